{
  "targets": [
    {
      "target_name": "detkd_native",
      "sources": ["addon.cc", "tensor_handle.cc", "ops.cc", "allocator.cc", "nms.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node ../scripts/torch-config.mjs includes)"
      ],
      "defines": ["NAPI_EXPERIMENTAL", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "<!@(node ../scripts/torch-config.mjs cflags)"],
      "ldflags": ["<!@(node ../scripts/torch-config.mjs libs)"],
      "libraries": ["<!@(node ../scripts/torch-config.mjs libs)"]
    }
  ]
}
