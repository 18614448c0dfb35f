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

// A JS object that owns one at::Tensor. Disposal is explicit; a GC finalizer is the backstop.
class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object New(Napi::Env env, at::Tensor t);
  // Throws a JS error naming `what` if v is not a live tensor handle.
  static at::Tensor& From(Napi::Value v, const char* what);
  static TensorHandle* Unwrap(Napi::Value v);  // nullptr if not a handle
  explicit TensorHandle(const Napi::CallbackInfo& info);
  void Finalize(Napi::BasicEnv env);
  void release(node_api_basic_env env);

  at::Tensor t;
  const void* accounted = nullptr;  // storage counted against V8's external memory

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
};

class GeneratorHandle : public Napi::ObjectWrap<GeneratorHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object New(Napi::Env env, at::Generator g);
  static GeneratorHandle* Unwrap(Napi::Value v);  // nullptr if not a generator handle
  explicit GeneratorHandle(const Napi::CallbackInfo& info);
  at::Generator g;
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
