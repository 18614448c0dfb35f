// Module entry: thread budget, tensor data in and out, autograd, RNG, devices.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/Version.h>
#include <ATen/ops/empty.h>
#include <dlfcn.h>
#include <torch/csrc/api/include/torch/version.h>

#include <c10/util/Logging.h>

#include <atomic>
#include <string>
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace detkd {

namespace {
std::atomic<int> g_threadGeneration{1};
thread_local int t_threadGeneration = 0;
int g_blasThreads = 0;

void setBlasThreads(int n) {
  // OpenBLAS keeps its own pthread pool, which at::set_num_threads does not touch. Looked up at
  // run time, so a libtorch on another BLAS (MKL) simply skips this.
  using SetFn = void (*)(int);
  // Node loads addons RTLD_LOCAL, so the BLAS libtorch pulled in is not in the global scope:
  // find it by name among the already-loaded libraries.
  SetFn fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  for (const char* lib : {"libblas.so.3", "libopenblas.so.0", "libopenblas.so"}) {
    if (fn != nullptr) break;
    void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    if (h != nullptr) fn = reinterpret_cast<SetFn>(dlsym(h, "openblas_set_num_threads"));
  }
  if (fn != nullptr) fn(n);
  g_blasThreads = fn != nullptr ? n : -1;
}

// The OpenBLAS kernel set in use ("Haswell", "SkylakeX", ...), or "" for another BLAS. Float
// results of GEMM-based ops are bit-reproducible only within one kernel set, so the oracle tests
// compare bit for bit only when it matches the set their fixtures were made with.
std::string blasCoreName() {
  using NameFn = char* (*)();
  NameFn fn = reinterpret_cast<NameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  for (const char* lib : {"libblas.so.3", "libopenblas.so.0", "libopenblas.so"}) {
    if (fn != nullptr) break;
    void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    if (h != nullptr) fn = reinterpret_cast<NameFn>(dlsym(h, "openblas_get_corename"));
  }
  const char* name = fn != nullptr ? fn() : nullptr;
  return name != nullptr ? std::string(name) : std::string();
}
}  // namespace

void ensureThreads() {
  const int gen = g_threadGeneration.load(std::memory_order_relaxed);
  if (t_threadGeneration != gen) {
    at::init_num_threads();
    t_threadGeneration = gen;
  }
}

namespace {

c10::ScalarType dtypeArg(const Napi::Value& v) {
  if (!v.IsNumber()) throwType(v.Env(), "dtype must be a dtype code");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < static_cast<double>(c10::ScalarType::NumOptions)) || d != static_cast<int64_t>(d))
    throwType(v.Env(), "invalid dtype code");
  return static_cast<c10::ScalarType>(static_cast<int>(d));
}

std::vector<int64_t> shapeArg(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throwType(v.Env(), std::string(what) + ": shape must be an array of non-negative integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throwType(v.Env(), std::string(what) + ": shape must be an array of non-negative integers");
    const double d = e.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 9e15)
      throwType(v.Env(), std::string(what) + ": shape must be an array of non-negative integers");
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

// fromBuffer(typedArrayOrArrayBuffer, dtypeCode, shape, device?) -> handle. Copies the bytes.
DETKD_FN(FromBuffer) {
  DETKD_BODY({
    Napi::Env env = info.Env();
    const uint8_t* data = nullptr;
    size_t bytes = 0;
    if (info[0].IsTypedArray()) {
      Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
      data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      bytes = ta.ByteLength();
    } else if (info[0].IsArrayBuffer()) {
      Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
      data = static_cast<const uint8_t*>(ab.Data());
      bytes = ab.ByteLength();
    } else {
      throwType(env, "fromBuffer: expected a typed array or ArrayBuffer");
    }
    const c10::ScalarType st = dtypeArg(info[1]);
    const std::vector<int64_t> shape = shapeArg(info[2], "fromBuffer");
    int64_t numel = 1;
    for (int64_t s : shape) numel *= s;
    const size_t need = static_cast<size_t>(numel) * c10::elementSize(st);
    if (need != bytes)
      throwType(env, "fromBuffer: " + std::to_string(bytes) + " bytes given, shape and dtype need " +
                         std::to_string(need));
    ensureThreads();
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
    if (bytes > 0) std::memcpy(t.data_ptr(), data, bytes);
    if (info.Length() > 3 && info[3].IsString()) {
      c10::Device dev(info[3].As<Napi::String>().Utf8Value());
      if (!dev.is_cpu()) t = t.to(dev);
    }
    return TensorHandle::New(env, std::move(t));
  });
}

// toBuffer(handle) -> ArrayBuffer with the tensor's elements, row-major, on the host.
DETKD_FN(ToBuffer) {
  DETKD_BODY({
    ensureThreads();
    at::Tensor t = TensorHandle::From(info[0], "toBuffer").detach();
    if (!t.device().is_cpu()) t = t.to(c10::Device(c10::DeviceType::CPU));
    t = t.contiguous();
    const size_t bytes = t.numel() * t.element_size();
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), bytes);
    if (bytes > 0) std::memcpy(ab.Data(), t.data_ptr(), bytes);
    return ab;
  });
}

DETKD_FN(Shape) {
  DETKD_BODY({
    const at::Tensor& t = TensorHandle::From(info[0], "shape");
    Napi::Array a = Napi::Array::New(info.Env(), static_cast<size_t>(t.dim()));
    for (int64_t i = 0; i < t.dim(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(t.size(i)));
    return a;
  });
}

DETKD_FN(Strides) {
  DETKD_BODY({
    const at::Tensor& t = TensorHandle::From(info[0], "strides");
    Napi::Array a = Napi::Array::New(info.Env(), static_cast<size_t>(t.dim()));
    for (int64_t i = 0; i < t.dim(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(t.stride(i)));
    return a;
  });
}

DETKD_FN(Meta) {
  // [dtype code, device string, numel, dim, requiresGrad, isLeaf, isContiguous]
  DETKD_BODY({
    const at::Tensor& t = TensorHandle::From(info[0], "meta");
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env, 7);
    a.Set(0u, static_cast<double>(static_cast<int>(t.scalar_type())));
    a.Set(1u, t.device().str());
    a.Set(2u, static_cast<double>(t.numel()));
    a.Set(3u, static_cast<double>(t.dim()));
    a.Set(4u, t.requires_grad());
    a.Set(5u, t.is_leaf());
    a.Set(6u, t.is_contiguous());
    return a;
  });
}

DETKD_FN(Dtype) {
  DETKD_BODY({
    return Napi::Number::New(info.Env(),
                             static_cast<int>(TensorHandle::From(info[0], "dtype").scalar_type()));
  });
}

DETKD_FN(Numel) {
  DETKD_BODY({ return Napi::Number::New(info.Env(), static_cast<double>(TensorHandle::From(info[0], "numel").numel())); });
}

DETKD_FN(StorageKey) {
  // An id shared by views of the same storage (for tests and memory reports).
  DETKD_BODY({
    const at::Tensor& t = TensorHandle::From(info[0], "storageKey");
    if (!t.has_storage()) return info.Env().Null();
    return Napi::Number::New(info.Env(),
                             static_cast<double>(reinterpret_cast<uintptr_t>(t.storage().unsafeGetStorageImpl())));
  });
}

DETKD_FN(SetRequiresGrad) {
  DETKD_BODY({
    at::Tensor& t = TensorHandle::From(info[0], "setRequiresGrad");
    if (!info[1].IsBoolean()) throwType(info.Env(), "setRequiresGrad: flag must be a boolean");
    t.requires_grad_(info[1].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
}

DETKD_FN(Grad) {
  DETKD_BODY({
    const at::Tensor& t = TensorHandle::From(info[0], "grad");
    const at::Tensor& g = t.grad();
    if (!g.defined()) return info.Env().Null();
    return TensorHandle::New(info.Env(), g);
  });
}

DETKD_FN(SetGrad) {
  DETKD_BODY({
    at::Tensor& t = TensorHandle::From(info[0], "setGrad");
    if (info[1].IsNull() || info[1].IsUndefined()) {
      t.mutable_grad() = at::Tensor();
    } else {
      const at::Tensor& g = TensorHandle::From(info[1], "setGrad(grad)");
      TORCH_CHECK(g.sizes() == t.sizes(), "setGrad: grad shape ", g.sizes(), " does not match tensor shape ",
                  t.sizes());
      t.mutable_grad() = g;
    }
    return info.Env().Undefined();
  });
}

DETKD_FN(RetainGrad) {
  DETKD_BODY({
    TensorHandle::From(info[0], "retainGrad").retain_grad();
    return info.Env().Undefined();
  });
}

// backward(handle, grad|null, retainGraph, createGraph)
DETKD_FN(Backward) {
  DETKD_BODY({
    at::Tensor& t = TensorHandle::From(info[0], "backward");
    at::Tensor g;
    if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) g = TensorHandle::From(info[1], "backward(grad)");
    const bool retain = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
    const bool create = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
    ensureThreads();
    t.backward(g, retain, create);
    return info.Env().Undefined();
  });
}

DETKD_FN(SetGradEnabled) {
  DETKD_BODY({
    if (!info[0].IsBoolean()) throwType(info.Env(), "setGradEnabled: flag must be a boolean");
    const bool prev = at::GradMode::is_enabled();
    at::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
    return Napi::Boolean::New(info.Env(), prev);
  });
}

DETKD_FN(IsGradEnabled) { DETKD_BODY({ return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }); }

DETKD_FN(SetNumThreads) {
  DETKD_BODY({
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1)
      throwType(info.Env(), "setNumThreads: expected a positive integer");
    const int n = info[0].As<Napi::Number>().Int32Value();
    at::set_num_threads(n);
    setBlasThreads(n);
    g_threadGeneration.fetch_add(1);
    ensureThreads();
    return info.Env().Undefined();
  });
}

DETKD_FN(GetNumThreads) {
  DETKD_BODY({
    ensureThreads();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("intraOp", at::get_num_threads());
    o.Set("interOp", at::get_num_interop_threads());
    o.Set("blas", g_blasThreads);
    return o;
  });
}

DETKD_FN(SetInteropThreads) {
  DETKD_BODY({
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1)
      throwType(info.Env(), "setInteropThreads: expected a positive integer");
    at::set_num_interop_threads(info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  });
}

at::Generator& generatorArg(const Napi::Value& v, at::Generator& fallback) {
  if (v.IsNull() || v.IsUndefined()) return fallback;
  GeneratorHandle* g = GeneratorHandle::Unwrap(v);
  if (g == nullptr) throwType(v.Env(), "expected a generator or null");
  return g->g;
}

uint64_t seedArg(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = false;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (!v.IsNumber()) throwType(v.Env(), "seed must be a non-negative integer");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != static_cast<double>(static_cast<uint64_t>(d)))
    throwType(v.Env(), "seed must be a non-negative integer");
  return static_cast<uint64_t>(d);
}

DETKD_FN(ManualSeed) {
  DETKD_BODY({
    const uint64_t seed = seedArg(info[0]);
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(seed);
    }
    const auto& hooks = at::detail::getCUDAHooks();
    if (hooks.hasCUDA()) {
      for (int i = 0; i < hooks.getNumGPUs(); ++i) {
        auto gen = hooks.getDefaultCUDAGenerator(static_cast<c10::DeviceIndex>(i));
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_current_seed(seed);
      }
    }
    return info.Env().Undefined();
  });
}

DETKD_FN(NewGenerator) {
  DETKD_BODY({
    const uint64_t seed = seedArg(info[0]);
    std::string dev = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "cpu";
    c10::Device d(dev);
    at::Generator g;
    if (d.is_cpu()) {
      g = at::make_generator<at::CPUGeneratorImpl>(seed);
    } else {
      // A CUDA generator comes from the CUDA hooks: clone the device's default one, then seed it.
      g = at::detail::getCUDAHooks().getDefaultCUDAGenerator(d.index() < 0 ? 0 : d.index()).clone();
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_current_seed(seed);
    }
    return GeneratorHandle::New(info.Env(), g);
  });
}

DETKD_FN(GeneratorGetState) {
  DETKD_BODY({
    at::Generator def = at::detail::getDefaultCPUGenerator();
    at::Generator& g = generatorArg(info[0], def);
    std::lock_guard<std::mutex> lock(g.mutex());
    return TensorHandle::New(info.Env(), g.get_state());
  });
}

DETKD_FN(GeneratorSetState) {
  DETKD_BODY({
    at::Generator def = at::detail::getDefaultCPUGenerator();
    at::Generator& g = generatorArg(info[0], def);
    const at::Tensor& s = TensorHandle::From(info[1], "generatorSetState(state)");
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(s);
    return info.Env().Undefined();
  });
}

DETKD_FN(GeneratorSeed) {
  DETKD_BODY({
    at::Generator def = at::detail::getDefaultCPUGenerator();
    at::Generator& g = generatorArg(info[0], def);
    return Napi::Number::New(info.Env(), static_cast<double>(g.current_seed()));
  });
}

DETKD_FN(SetDeterministic) {
  DETKD_BODY({
    if (!info[0].IsBoolean()) throwType(info.Env(), "setDeterministic: flag must be a boolean");
    at::globalContext().setDeterministicAlgorithms(info[0].As<Napi::Boolean>().Value(), false);
    return info.Env().Undefined();
  });
}

DETKD_FN(CudaInfo) {
  DETKD_BODY({
    const auto& hooks = at::detail::getCUDAHooks();
    Napi::Object o = Napi::Object::New(info.Env());
    const bool has = hooks.hasCUDA();
    o.Set("available", has);
    o.Set("deviceCount", has ? hooks.getNumGPUs() : 0);
    return o;
  });
}

DETKD_FN(CudaSynchronize) {
  DETKD_BODY({
    const auto& hooks = at::detail::getCUDAHooks();
    if (hooks.hasCUDA()) {
      const int64_t d = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : 0;
      hooks.deviceSynchronize(d);
    }
    return info.Env().Undefined();
  });
}

DETKD_FN(Version) {
  DETKD_BODY({
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("torch", TORCH_VERSION);
    o.Set("config", at::show_config());
    o.Set("parallel", at::get_parallel_info());
    o.Set("blasCore", blasCoreName());
    return o;
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // libtorch 1.13 symbolises a backtrace for every error it raises (9-10 ms each); the messages
  // we pass to JS never show it. DETKD_NATIVE_BACKTRACE=1 keeps it for debugging the addon.
  if (std::getenv("DETKD_NATIVE_BACKTRACE") == nullptr) c10::SetStackTraceFetcher([]() { return std::string(); });
  at::init_num_threads();
  t_threadGeneration = g_threadGeneration.load();
  TensorHandle::Init(env, exports);
  GeneratorHandle::Init(env, exports);
  InitAllocator(env, exports);
  InitOps(env, exports);
  InitNms(env, exports);
#define EXPORT(name, fn) exports.Set(name, Napi::Function::New<fn>(env, name))
  EXPORT("fromBuffer", FromBuffer);
  EXPORT("toBuffer", ToBuffer);
  EXPORT("shape", Shape);
  EXPORT("strides", Strides);
  EXPORT("meta", Meta);
  EXPORT("dtype", Dtype);
  EXPORT("numel", Numel);
  EXPORT("storageKey", StorageKey);
  EXPORT("setRequiresGrad", SetRequiresGrad);
  EXPORT("grad", Grad);
  EXPORT("setGrad", SetGrad);
  EXPORT("retainGrad", RetainGrad);
  EXPORT("backward", Backward);
  EXPORT("setGradEnabled", SetGradEnabled);
  EXPORT("isGradEnabled", IsGradEnabled);
  EXPORT("setNumThreads", SetNumThreads);
  EXPORT("getNumThreads", GetNumThreads);
  EXPORT("setInteropThreads", SetInteropThreads);
  EXPORT("manualSeed", ManualSeed);
  EXPORT("newGenerator", NewGenerator);
  EXPORT("generatorGetState", GeneratorGetState);
  EXPORT("generatorSetState", GeneratorSetState);
  EXPORT("generatorSeed", GeneratorSeed);
  EXPORT("setDeterministic", SetDeterministic);
  EXPORT("cudaInfo", CudaInfo);
  EXPORT("cudaSynchronize", CudaSynchronize);
  EXPORT("version", Version);
#undef EXPORT
  return exports;
}

}  // namespace detkd

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return detkd::Init(env, exports); }
NODE_API_MODULE(detkd_native, InitModule)
