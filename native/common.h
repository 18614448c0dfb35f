// Shared declarations of the detkd addon. Translation units include ATen headers only (never
// <torch/torch.h>): that keeps each one near 6 s and 0.5 GB to compile.
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <napi.h>

#include <string>

namespace detkd {

// Makes sure the calling thread's OpenMP/oneDNN thread settings match ATen's. Cheap after the
// first call on a thread (a thread-local generation check). Without it oneDNN and ATen disagree
// on thread counts and gradients differ from PyTorch in the 6th digit.
void ensureThreads();

// A JS object that owns one at::Tensor: a plain object with the handle wrapped in it (no JS
// class: creating an ObjectWrap instance calls a JS constructor, about 1 us per op). Disposal is
// explicit (`dispose(handle)`); a GC finalizer is the backstop.
struct TensorHandle {
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object New(Napi::Env env, at::Tensor t);
  // Throws a JS error naming `what` if v is not a live tensor handle.
  static at::Tensor& From(Napi::Value v, const char* what);
  static TensorHandle* Unwrap(Napi::Value v);  // nullptr if not a tensor handle
  // inGc: called from a finalizer while V8 collects; V8 must not be called back then.
  void release(node_api_basic_env env, bool inGc = false);

  uint32_t magic = kMagic;
  at::Tensor t;
  const void* accounted = nullptr;  // storage counted against V8's external memory
  static constexpr uint32_t kMagic = 0x74656e73;  // "tens"
};

struct GeneratorHandle {
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object New(Napi::Env env, at::Generator g);
  static GeneratorHandle* Unwrap(Napi::Value v);  // nullptr if not a generator handle

  uint32_t magic = kMagic;
  at::Generator g;
  static constexpr uint32_t kMagic = 0x67656e72;  // "genr"
};

void InitOps(Napi::Env env, Napi::Object exports);
void InitAllocator(Napi::Env env, Napi::Object exports);
void InitNms(Napi::Env env, Napi::Object exports);

// Runs fn, turning every C++ exception into a JS exception: no input from JS may crash the
// process.
template <typename Fn>
Napi::Value guarded(Napi::Env env, Fn&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  } catch (...) {
    throw Napi::Error::New(env, "detkd native: unknown C++ exception");
  }
}

#define DETKD_FN(name) Napi::Value name(const Napi::CallbackInfo& info)
#define DETKD_BODY(...) return ::detkd::guarded(info.Env(), [&]() -> Napi::Value { __VA_ARGS__ })

[[noreturn]] inline void throwType(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}

}  // namespace detkd
