// Tensor and generator handles, and the accounting that tells V8 how much native memory the
// live handles hold (per storage, not per view), so that finalizers are a working backstop.
#include <unordered_map>

#include "common.h"

namespace detkd {

namespace {
const napi_type_tag kTensorTag = {0x6465746b645f7465ULL, 0x6e736f72686e646cULL};
const napi_type_tag kGeneratorTag = {0x6465746b645f6765ULL, 0x6e657261746f7221ULL};
Napi::FunctionReference* g_tensorCtor = nullptr;
Napi::FunctionReference* g_generatorCtor = nullptr;

struct StorageCount {
  int64_t handles;
  int64_t bytes;
};
// Main-thread only: handles are created and finalized on the JS thread.
std::unordered_map<const void*, StorageCount> g_storages;
int64_t g_externalBytes = 0;
int64_t g_liveHandles = 0;

void account(Napi::Env env, TensorHandle* h) {
  if (!h->t.defined() || !h->t.has_storage()) return;
  const auto& st = h->t.storage();
  const void* key = st.unsafeGetStorageImpl();
  auto& e = g_storages[key];
  if (e.handles++ == 0) {
    e.bytes = static_cast<int64_t>(st.nbytes());
    g_externalBytes += e.bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, e.bytes);
  }
  h->accounted = key;
}
}  // namespace

void TensorHandle::release(node_api_basic_env env) {
  if (accounted != nullptr) {
    auto it = g_storages.find(accounted);
    if (it != g_storages.end() && --it->second.handles == 0) {
      g_externalBytes -= it->second.bytes;
      int64_t adjusted = 0;
      napi_adjust_external_memory(env, -it->second.bytes, &adjusted);
      g_storages.erase(it);
    }
    accounted = nullptr;
  }
  if (t.defined()) {
    t.reset();
    --g_liveHandles;
  }
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  napi_type_tag_object(info.Env(), info.This(), &kTensorTag);
}

void TensorHandle::Finalize(Napi::BasicEnv env) { release(env); }

void TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function f = DefineClass(env, "TensorHandle",
                                 {InstanceMethod<&TensorHandle::Dispose>("dispose"),
                                  InstanceAccessor<&TensorHandle::IsDisposed>("disposed")});
  g_tensorCtor = new Napi::FunctionReference(Napi::Persistent(f));
  exports.Set("TensorHandle", f);
  exports.Set("liveHandles", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                Napi::Object o = Napi::Object::New(info.Env());
                o.Set("handles", Napi::Number::New(info.Env(), static_cast<double>(g_liveHandles)));
                o.Set("storages", Napi::Number::New(info.Env(), static_cast<double>(g_storages.size())));
                o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(g_externalBytes)));
                return o;
              }));
}

Napi::Object TensorHandle::New(Napi::Env env, at::Tensor t) {
  Napi::Object obj = g_tensorCtor->New({});
  TensorHandle* h = Napi::ObjectWrap<TensorHandle>::Unwrap(obj);
  h->t = std::move(t);
  if (h->t.defined()) ++g_liveHandles;
  account(env, h);
  return obj;
}

TensorHandle* TensorHandle::Unwrap(Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  bool ok = false;
  if (napi_check_object_type_tag(v.Env(), v, &kTensorTag, &ok) != napi_ok || !ok) return nullptr;
  return Napi::ObjectWrap<TensorHandle>::Unwrap(v.As<Napi::Object>());
}

at::Tensor& TensorHandle::From(Napi::Value v, const char* what) {
  TensorHandle* h = Unwrap(v);
  if (h == nullptr) throwType(v.Env(), std::string(what) + ": expected a tensor");
  if (!h->t.defined()) throw Napi::Error::New(v.Env(), std::string(what) + ": tensor was disposed");
  return h->t;
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !t.defined());
}

GeneratorHandle::GeneratorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GeneratorHandle>(info) {
  napi_type_tag_object(info.Env(), info.This(), &kGeneratorTag);
}

void GeneratorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function f = DefineClass(env, "GeneratorHandle", {});
  g_generatorCtor = new Napi::FunctionReference(Napi::Persistent(f));
  exports.Set("GeneratorHandle", f);
}

Napi::Object GeneratorHandle::New(Napi::Env env, at::Generator g) {
  Napi::Object obj = g_generatorCtor->New({});
  Napi::ObjectWrap<GeneratorHandle>::Unwrap(obj)->g = std::move(g);
  return obj;
}

GeneratorHandle* GeneratorHandle::Unwrap(Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  bool ok = false;
  if (napi_check_object_type_tag(v.Env(), v, &kGeneratorTag, &ok) != napi_ok || !ok) return nullptr;
  GeneratorHandle* g = Napi::ObjectWrap<GeneratorHandle>::Unwrap(v.As<Napi::Object>());
  if (!g->g.defined()) return nullptr;
  return g;
}

}  // namespace detkd
