// The CPU allocator detkd registers with c10 (c10::SetCPUAllocator).
//
// Why: under this workload glibc's allocator fragments (RSS reached 8 GB with every tensor freed:
// big blocks land in the brk heap once glibc's dynamic mmap threshold has risen, and small
// long-lived allocations pin them). A fixed 1 MiB mmap threshold cures that but page-faults every
// big allocation. This allocator keeps glibc for small blocks and serves blocks of
// kLargeThreshold and up from mmap, rounded to size classes (at most 1/8 waste) and cached on
// free, so a training loop that allocates the same shapes each step reuses warm pages and never
// fragments. The cache is capped; `emptyCache()` returns it to the OS.
//
// DETKD_ALLOCATOR=system keeps c10's default allocator (for measurements).
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace detkd {
namespace {

constexpr size_t kLargeThreshold = size_t(1) << 18;  // 256 KiB

size_t sizeClass(size_t n) {
  // Round up to a multiple of (next power of two) / 8, and to whole pages.
  size_t p = 1;
  while (p < n) p <<= 1;
  size_t g = p / 8;
  if (g < 4096) g = 4096;
  return (n + g - 1) / g * g;
}

class CachingCPUAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    if (n < kLargeThreshold) {
      // As c10's default CPU allocator does: 64-byte aligned, from glibc.
      void* p = nullptr;
      if (n > 0 && posix_memalign(&p, 64, n) != 0) p = nullptr;
      TORCH_CHECK(n == 0 || p != nullptr, "detkd allocator: out of memory allocating ", n, " bytes");
      return {p, p, &freeAny, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t cls = sizeClass(n);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= cls;
        ++hits_;
      }
    }
    if (p == nullptr) {
      p = mmap(nullptr, cls, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        emptyCache();
        p = mmap(nullptr, cls, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        TORCH_CHECK(p != MAP_FAILED, "detkd allocator: out of memory allocating ", n, " bytes");
      }
      std::lock_guard<std::mutex> lock(mu_);
      ++misses_;
      mapped_ += cls;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      sizes_[p] = cls;
      inUse_ += cls;
    }
    return {p, p, &freeAny, c10::Device(c10::DeviceType::CPU)};
  }

  // One deleter for both paths (context == data), so raw_allocate/raw_deallocate work too:
  // oneDNN uses them.
  c10::DeleterFnPtr raw_deleter() const override { return &freeAny; }

  static void freeAny(void* p);

  void release(void* p) const {
    if (p == nullptr) return;
    std::unique_lock<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) {
      lock.unlock();
      std::free(p);  // a small block from posix_memalign
      return;
    }
    const size_t cls = it->second;
    sizes_.erase(it);
    inUse_ -= cls;
    if (cached_ + cls > limit_) {
      munmap(p, cls);
      mapped_ -= cls;
      return;
    }
    free_[cls].push_back(p);
    cached_ += cls;
  }

  void emptyCache() const {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : free_) {
      for (void* p : kv.second) munmap(p, kv.first);
      mapped_ -= kv.first * kv.second.size();
      kv.second.clear();
    }
    cached_ = 0;
  }

  void setLimit(size_t bytes) const {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = bytes;
  }

  Napi::Object stats(Napi::Env env) const {
    std::lock_guard<std::mutex> lock(mu_);
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", "caching");
    o.Set("inUseBytes", static_cast<double>(inUse_));
    o.Set("cachedBytes", static_cast<double>(cached_));
    o.Set("mappedBytes", static_cast<double>(mapped_));
    o.Set("limitBytes", static_cast<double>(limit_));
    o.Set("hits", static_cast<double>(hits_));
    o.Set("misses", static_cast<double>(misses_));
    return o;
  }

 private:
  mutable std::mutex mu_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable size_t cached_ = 0, inUse_ = 0, mapped_ = 0;
  mutable size_t limit_ = size_t(2) << 30;  // 2 GiB of cached blocks at most
  mutable uint64_t hits_ = 0, misses_ = 0;
};

CachingCPUAllocator* g_alloc = nullptr;  // never destroyed: tensors may outlive static dtors
bool g_installed = false;

void CachingCPUAllocator::freeAny(void* p) { g_alloc->release(p); }

DETKD_FN(AllocatorStats) {
  DETKD_BODY({
    if (!g_installed) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("kind", "system");
      return o;
    }
    return g_alloc->stats(info.Env());
  });
}

DETKD_FN(EmptyCache) {
  DETKD_BODY({
    if (g_installed) g_alloc->emptyCache();
    return info.Env().Undefined();
  });
}

DETKD_FN(SetCacheLimit) {
  DETKD_BODY({
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0)
      throwType(info.Env(), "setCacheLimit(bytes): bytes must be a non-negative number");
    if (g_installed) g_alloc->setLimit(static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()));
    return info.Env().Undefined();
  });
}

}  // namespace

void InitAllocator(Napi::Env env, Napi::Object exports) {
  const char* choice = std::getenv("DETKD_ALLOCATOR");
  if (choice == nullptr || std::string(choice) != "system") {
    g_alloc = new CachingCPUAllocator();
    if (const char* mb = std::getenv("DETKD_CPU_CACHE_MB")) g_alloc->setLimit(size_t(std::atoll(mb)) << 20);
    c10::SetCPUAllocator(g_alloc, /*priority=*/10);
    g_installed = true;
  }
  exports.Set("allocatorStats", Napi::Function::New<AllocatorStats>(env));
  exports.Set("emptyCache", Napi::Function::New<EmptyCache>(env));
  exports.Set("setCacheLimit", Napi::Function::New<SetCacheLimit>(env));
}

}  // namespace detkd
