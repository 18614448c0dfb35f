// Batched, class-aware non-maximum suppression: the one custom kernel (torchvision's ops are
// not part of libtorch). CPU; CUDA inputs are copied to the host for it.
// Semantics follow torchvision.ops.batched_nms: boxes are xyxy, IoU = inter / (a1 + a2 - inter)
// with no +1, a box is suppressed when its IoU with a kept box of the same class is > iouThr.
// Order: score descending; equal scores keep input order (a stable sort, documented so results
// are reproducible).
#include <ATen/ops/empty.h>

#include <algorithm>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace detkd {
namespace {

DETKD_FN(BatchedNms) {
  DETKD_BODY({
    Napi::Env env = info.Env();
    at::Tensor boxes = TensorHandle::From(info[0], "batchedNms(boxes)");
    at::Tensor scores = TensorHandle::From(info[1], "batchedNms(scores)");
    at::Tensor idxs = TensorHandle::From(info[2], "batchedNms(idxs)");
    if (!info[3].IsNumber()) throwType(env, "batchedNms: iouThreshold must be a number");
    const double thr = info[3].As<Napi::Number>().DoubleValue();
    TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "batchedNms: boxes must be [N, 4], got ", boxes.sizes());
    const int64_t n = boxes.size(0);
    TORCH_CHECK(scores.dim() == 1 && scores.size(0) == n, "batchedNms: scores must be [", n, "], got ",
                scores.sizes());
    TORCH_CHECK(idxs.dim() == 1 && idxs.size(0) == n, "batchedNms: idxs must be [", n, "], got ", idxs.sizes());
    ensureThreads();
    at::NoGradGuard ng;
    const c10::Device cpu(c10::DeviceType::CPU);
    boxes = boxes.detach().to(cpu, at::kFloat).contiguous();
    scores = scores.detach().to(cpu, at::kFloat).contiguous();
    idxs = idxs.detach().to(cpu, at::kLong).contiguous();
    const float* b = boxes.data_ptr<float>();
    const float* s = scores.data_ptr<float>();
    const int64_t* c = idxs.data_ptr<int64_t>();

    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return s[i] > s[j]; });

    // Per class, the kept boxes so far; each candidate is compared only with its own class.
    std::unordered_map<int64_t, std::vector<int64_t>> keptByClass;
    std::vector<int64_t> keep;
    keep.reserve(static_cast<size_t>(n));
    for (int64_t i : order) {
      const float x1 = b[4 * i], y1 = b[4 * i + 1], x2 = b[4 * i + 2], y2 = b[4 * i + 3];
      const float area = (x2 - x1) * (y2 - y1);
      auto& kept = keptByClass[c[i]];
      bool suppressed = false;
      for (int64_t k : kept) {
        const float kx1 = b[4 * k], ky1 = b[4 * k + 1], kx2 = b[4 * k + 2], ky2 = b[4 * k + 3];
        const float w = std::max(0.0f, std::min(x2, kx2) - std::max(x1, kx1));
        const float h = std::max(0.0f, std::min(y2, ky2) - std::max(y1, ky1));
        const float inter = w * h;
        const float karea = (kx2 - kx1) * (ky2 - ky1);
        const float iou = inter / (area + karea - inter);
        if (iou > thr) {
          suppressed = true;
          break;
        }
      }
      if (!suppressed) {
        kept.push_back(i);
        keep.push_back(i);
      }
    }
    at::Tensor out = at::empty({static_cast<int64_t>(keep.size())}, at::TensorOptions().dtype(at::kLong));
    std::copy(keep.begin(), keep.end(), out.data_ptr<int64_t>());
    return TensorHandle::New(env, std::move(out));
  });
}

}  // namespace

void InitNms(Napi::Env env, Napi::Object exports) {
  exports.Set("batchedNms", Napi::Function::New<BatchedNms>(env, "batchedNms"));
}

}  // namespace detkd
