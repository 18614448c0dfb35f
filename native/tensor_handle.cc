// Tensor and generator handles, and the accounting that tells V8 how much native memory the
// live handles hold (per storage, not per view), so that finalizers are a working backstop.
#include <cstdlib>
#include <unordered_map>

#include "common.h"

namespace detkd {

namespace {
// Type tags make sure an object really is one of our handles before we unwrap it.
const napi_type_tag kTensorTag = {0x6465746b645f7465ULL, 0x6e736f72686e646cULL};
const napi_type_tag kGeneratorTag = {0x6465746b645f6765ULL, 0x6e657261746f7221ULL};

struct StorageCount {
  int64_t handles;
  int64_t bytes;
};
// Main-thread only: handles are created and finalized on the JS thread.
std::unordered_map<const void*, StorageCount> g_storages;
int64_t g_externalBytes = 0;
int64_t g_liveHandles = 0;
// Adjustments are batched: V8 hears about them once they add up to 1 MiB either way, which
// keeps a per-op V8 call off the hot path without hiding any real amount of memory.
int64_t g_pendingAdjust = 0;
constexpr int64_t kAdjustBatch = int64_t(1) << 20;

// Finalizers run inside V8's garbage collection (basic finalizers): calling
// napi_adjust_external_memory there re-enters the heap and aborts V8 (`Check failed:
// marking_done_`). So a finalizer only records its change (inGc); the next adjustment made from
// a normal call (a new handle, an explicit dispose) reports the sum.
void adjust(node_api_basic_env env, int64_t delta, bool inGc = false) {
  g_externalBytes += delta;
  g_pendingAdjust += delta;
  if (inGc) return;
  if (g_pendingAdjust >= kAdjustBatch || g_pendingAdjust <= -kAdjustBatch) {
    int64_t out = 0;
    napi_adjust_external_memory(env, g_pendingAdjust, &out);
    g_pendingAdjust = 0;
  }
}

void account(napi_env env, TensorHandle* h) {
  if (!h->t.defined() || !h->t.has_storage()) return;
  const auto& st = h->t.storage();
  const void* key = st.unsafeGetStorageImpl();
  auto& e = g_storages[key];
  if (e.handles++ == 0) {
    e.bytes = static_cast<int64_t>(st.nbytes());
    adjust(env, e.bytes);
  }
  h->accounted = key;
}

void finalizeTensor(node_api_basic_env env, void* data, void* /*hint*/) {
  auto* h = static_cast<TensorHandle*>(data);
  h->release(env, /*inGc=*/true);
  delete h;
}

void finalizeGenerator(node_api_basic_env /*env*/, void* data, void* /*hint*/) {
  delete static_cast<GeneratorHandle*>(data);
}

template <typename T>
T* unwrapTagged(Napi::Value v, const napi_type_tag* tag) {
  if (!v.IsObject()) return nullptr;
  bool ok = false;
  if (napi_check_object_type_tag(v.Env(), v, tag, &ok) != napi_ok || !ok) return nullptr;
  void* p = nullptr;
  if (napi_unwrap(v.Env(), v, &p) != napi_ok || p == nullptr) return nullptr;
  T* h = static_cast<T*>(p);
  return h->magic == T::kMagic ? h : nullptr;
}

Napi::Object wrapNew(Napi::Env env, void* data, node_api_basic_finalize fin, const napi_type_tag* tag) {
  napi_value obj;
  NAPI_THROW_IF_FAILED(env, napi_create_object(env, &obj), Napi::Object());
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, obj, tag), Napi::Object());
  NAPI_THROW_IF_FAILED(env, napi_wrap(env, obj, data, fin, nullptr, nullptr), Napi::Object());
  return Napi::Object(env, obj);
}

DETKD_FN(Dispose) {
  DETKD_BODY({
    TensorHandle* h = TensorHandle::Unwrap(info[0]);
    if (h == nullptr) throwType(info.Env(), "dispose: expected a tensor handle");
    h->release(info.Env());
    return info.Env().Undefined();
  });
}

DETKD_FN(IsDisposed) {
  DETKD_BODY({
    TensorHandle* h = TensorHandle::Unwrap(info[0]);
    if (h == nullptr) throwType(info.Env(), "isDisposed: expected a tensor handle");
    return Napi::Boolean::New(info.Env(), !h->t.defined());
  });
}

DETKD_FN(LiveHandles) {
  DETKD_BODY({
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("handles", Napi::Number::New(info.Env(), static_cast<double>(g_liveHandles)));
    o.Set("storages", Napi::Number::New(info.Env(), static_cast<double>(g_storages.size())));
    o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(g_externalBytes)));
    return o;
  });
}
}  // namespace

void TensorHandle::release(node_api_basic_env env, bool inGc) {
  if (accounted != nullptr) {
    auto it = g_storages.find(accounted);
    if (it != g_storages.end() && --it->second.handles == 0) {
      adjust(env, -it->second.bytes, inGc);
      g_storages.erase(it);
    }
    accounted = nullptr;
  }
  if (t.defined()) {
    t.reset();
    --g_liveHandles;
  }
}

void TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  exports.Set("dispose", Napi::Function::New<Dispose>(env, "dispose"));
  exports.Set("isDisposed", Napi::Function::New<IsDisposed>(env, "isDisposed"));
  exports.Set("liveHandles", Napi::Function::New<LiveHandles>(env, "liveHandles"));
}

Napi::Object TensorHandle::New(Napi::Env env, at::Tensor t) {
  auto* h = new TensorHandle();
  h->t = std::move(t);
  if (h->t.defined()) ++g_liveHandles;
  account(env, h);
  return wrapNew(env, h, &finalizeTensor, &kTensorTag);
}

TensorHandle* TensorHandle::Unwrap(Napi::Value v) { return unwrapTagged<TensorHandle>(v, &kTensorTag); }

at::Tensor& TensorHandle::From(Napi::Value v, const char* what) {
  TensorHandle* h = Unwrap(v);
  if (h == nullptr) throwType(v.Env(), std::string(what) + ": expected a tensor");
  if (!h->t.defined()) throw Napi::Error::New(v.Env(), std::string(what) + ": tensor was disposed");
  return h->t;
}

void GeneratorHandle::Init(Napi::Env /*env*/, Napi::Object /*exports*/) {}

Napi::Object GeneratorHandle::New(Napi::Env env, at::Generator g) {
  auto* h = new GeneratorHandle();
  h->g = std::move(g);
  return wrapNew(env, h, &finalizeGenerator, &kGeneratorTag);
}

GeneratorHandle* GeneratorHandle::Unwrap(Napi::Value v) {
  GeneratorHandle* g = unwrapTagged<GeneratorHandle>(v, &kGeneratorTag);
  return g != nullptr && g->g.defined() ? g : nullptr;
}

}  // namespace detkd
