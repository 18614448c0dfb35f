// The CPU allocator detkd registers with c10 (c10::SetCPUAllocator).
//
// Why: under this workload glibc's allocator fragments (RSS reached 8 GB with every tensor freed:
// big blocks land in the brk heap once glibc's dynamic mmap threshold has risen, and small
// long-lived allocations pin them; measured here too: a small conv net's RSS grew 15% over 2,000
// steps with glibc serving tensors under 256 KiB, and stayed flat under jemalloc). A fixed 1 MiB
// mmap threshold cures the big-block case but page-faults every big allocation. So tensor data
// never touches glibc: blocks under kLargeThreshold come from per-size-class slabs (1 MiB mmaps
// carved into equal blocks, reused by class), and larger blocks are mmapped whole, rounded to
// size classes (at most 1/8 waste) and cached on free, so a training loop that allocates the
// same shapes each step reuses warm pages and never fragments. The large-block cache is capped;
// `emptyCache()` returns it to the OS.
//
// DETKD_ALLOCATOR=system keeps c10's default allocator (for measurements).
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace detkd {
namespace {

constexpr size_t kLargeThreshold = size_t(1) << 18;  // 256 KiB

constexpr size_t kSlabBytes = size_t(1) << 20;  // small blocks are carved from 1 MiB slabs

// Small classes: multiples of 64 bytes (the alignment c10 wants) up to 1 KiB, then 1/8 steps of
// each power of two, so a block wastes at most 1/8 of itself.
size_t smallClass(size_t n) {
  if (n <= 1024) return (n + 63) / 64 * 64;
  size_t p = 1;
  while (p < n) p <<= 1;
  const size_t g = p / 8;
  return (n + g - 1) / g * g;
}

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
    if (n == 0) return {nullptr, nullptr, &freeAny, c10::Device(c10::DeviceType::CPU)};
    void* p = n < kLargeThreshold ? allocSmall(n) : allocLarge(n);
    return {p, p, &freeAny, c10::Device(c10::DeviceType::CPU)};
  }

  // One deleter for both paths (context == data), so raw_allocate/raw_deallocate work too:
  // oneDNN uses them.
  c10::DeleterFnPtr raw_deleter() const override { return &freeAny; }

  static void freeAny(void* p);

  void release(void* p) const {
    if (p == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    TORCH_INTERNAL_ASSERT(it != sizes_.end(), "detkd allocator: freeing a block it did not allocate");
    const size_t cls = it->second;
    sizes_.erase(it);
    inUse_ -= cls;
    if (cls < kLargeThreshold) {
      // Small blocks go back to their class's free list; slabs are never unmapped (their total
      // is bounded by the peak small-block footprint).
      small_[cls].push_back(p);
      return;
    }
    lastUse_[cls] = ++tick_;
    // Over the cap: make room by unmapping cached blocks of the classes used least recently.
    // Unmapping the block being freed instead (the first version did) pins the cache to the sizes
    // of whatever ran first: after a run of other shapes (an evaluation, a previous training run
    // in the same process) every free of the current step's sizes was unmapped and every
    // allocation mmapped and page-faulted again, about 700 mmap/munmap pairs a second measured in
    // a `detkd compare` process, which made its later runs 1.5x slower.
    while (cached_ + cls > limit_ && evictOldest(cls)) {
    }
    if (cached_ + cls > limit_) {
      munmap(p, cls);
      mapped_ -= cls;
      return;
    }
    free_[cls].push_back(p);
    cached_ += cls;
  }

  // Unmaps every cached block of the least recently used class other than `keep`; false when
  // there is none. Called with mu_ held.
  bool evictOldest(size_t keep) const {
    size_t victim = 0;
    uint64_t oldest = UINT64_MAX;
    for (auto& kv : free_) {
      if (kv.first == keep || kv.second.empty()) continue;
      const uint64_t t = lastUse_[kv.first];
      if (t < oldest) {
        oldest = t;
        victim = kv.first;
      }
    }
    if (victim == 0) return false;
    auto& list = free_[victim];
    for (void* q : list) munmap(q, victim);
    mapped_ -= victim * list.size();
    cached_ -= victim * list.size();
    list.clear();
    return true;
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
    o.Set("slabBytes", static_cast<double>(slabBytes_));
    o.Set("limitBytes", static_cast<double>(limit_));
    o.Set("hits", static_cast<double>(hits_));
    o.Set("misses", static_cast<double>(misses_));
    return o;
  }

 private:
  void* allocSmall(size_t n) const {
    const size_t cls = smallClass(n);
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = small_[cls];
    if (list.empty()) {
      // Carve a new slab into blocks of this class.
      const size_t slab = std::max(kSlabBytes, cls * 4);
      void* base = mmap(nullptr, slab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      TORCH_CHECK(base != MAP_FAILED, "detkd allocator: out of memory allocating ", n, " bytes");
      slabBytes_ += slab;
      for (size_t off = slab / cls * cls; off >= cls; off -= cls) list.push_back(static_cast<char*>(base) + off - cls);
      ++misses_;
    } else {
      ++hits_;
    }
    void* p = list.back();
    list.pop_back();
    sizes_[p] = cls;
    inUse_ += cls;
    return p;
  }

  void* allocLarge(size_t n) const {
    const size_t cls = sizeClass(n);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= cls;
        lastUse_[cls] = ++tick_;
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
    std::lock_guard<std::mutex> lock(mu_);
    sizes_[p] = cls;
    inUse_ += cls;
    return p;
  }

  mutable std::mutex mu_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;   // large, by class
  mutable std::unordered_map<size_t, std::vector<void*>> small_;  // small, by class
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable size_t cached_ = 0, inUse_ = 0, mapped_ = 0, slabBytes_ = 0;
  mutable size_t limit_ = size_t(2) << 30;  // 2 GiB of cached large blocks at most
  mutable uint64_t hits_ = 0, misses_ = 0;
  mutable std::unordered_map<size_t, uint64_t> lastUse_;  // large class -> tick of its last alloc/free
  mutable uint64_t tick_ = 0;
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
