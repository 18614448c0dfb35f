// The one generic way JS calls ATen: an allow-listed operator (ops.generated.inc, generated from
// this libtorch's schemas by scripts/gen-ops.mjs) is looked up once, its handle cached, and each
// call's arguments are checked against the schema (count, and each argument's type) before
// OperatorHandle::callBoxed. callBoxed alone is not safe: too few arguments segfault libtorch 1.13.
// Calls go through the dispatcher, so autograd records them like any PyTorch call.
#include <ATen/ThreadLocalState.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>

#include <ATen/ATen.h>
#include <cmath>
#include <climits>
#include <sstream>
#include <vector>

#include "common.h"

namespace detkd {
namespace {

struct OpSpec {
  const char* name;
  const char* overload;
  const char* schema;  // as generated; a mismatch with the linked libtorch disables the op
};

const OpSpec kOps[] = {
#include "ops.generated.inc"
};
constexpr size_t kNumOps = sizeof(kOps) / sizeof(kOps[0]);

enum class K : uint8_t {
  Tensor, OptTensor, TensorList, OptTensorList,
  Int, OptInt, IntList, OptIntList,
  Float, OptFloat, OptFloatList,
  Scalar, OptScalar,
  Bool, OptBool,
  Str, OptStr,
  ScalarType, OptScalarType, OptLayout, Device, OptDevice, MemoryFormat, OptMemoryFormat,
  OptGenerator,
};

enum class R : uint8_t { Tensor, Tensors, Void, Value };

struct ArgInfo {
  std::string name;
  K kind;
  int n;  // fixed list size (int[2]), or -1
  bool hasDefault;
  c10::IValue def;
};

struct RetInfo {
  enum { Tensor, TensorList, Written, Number, Bool } kind;
};

using Guard = void (*)(const std::vector<c10::IValue>& stack, const std::string& label);

struct Op {
  Guard guard = nullptr;  // extra argument checks for inputs that crash libtorch 1.13's kernels
  bool ready = false;
  std::string error;  // why the op cannot be called
  std::string label;  // aten::name.overload
  c10::OperatorHandle* handle = nullptr;
  std::vector<ArgInfo> args;
  std::vector<RetInfo> rets;
  R retKind;
};

std::vector<Op> g_ops;

bool kindOf(const c10::Argument& a, K* out) {
  const std::string s = a.real_type()->str();
  static const std::pair<const char*, K> table[] = {
      {"Tensor", K::Tensor}, {"Tensor?", K::OptTensor}, {"Tensor[]", K::TensorList},
      {"Tensor?[]", K::OptTensorList}, {"int", K::Int}, {"SymInt", K::Int}, {"int?", K::OptInt},
      {"SymInt?", K::OptInt}, {"int[]", K::IntList}, {"SymInt[]", K::IntList}, {"int[]?", K::OptIntList},
      {"SymInt[]?", K::OptIntList}, {"float", K::Float}, {"float?", K::OptFloat},
      {"float[]?", K::OptFloatList}, {"Scalar", K::Scalar}, {"Scalar?", K::OptScalar}, {"bool", K::Bool},
      {"bool?", K::OptBool}, {"str", K::Str}, {"str?", K::OptStr}, {"ScalarType", K::ScalarType},
      {"ScalarType?", K::OptScalarType}, {"Layout?", K::OptLayout}, {"Device", K::Device},
      {"Device?", K::OptDevice}, {"MemoryFormat", K::MemoryFormat}, {"MemoryFormat?", K::OptMemoryFormat},
      {"Generator?", K::OptGenerator},
  };
  for (const auto& e : table) {
    if (s == e.first) {
      *out = e.second;
      return true;
    }
  }
  return false;
}

bool isOptional(K k) {
  switch (k) {
    case K::OptTensor: case K::OptInt: case K::OptIntList: case K::OptFloat: case K::OptFloatList:
    case K::OptScalar: case K::OptBool: case K::OptStr: case K::OptScalarType: case K::OptLayout:
    case K::OptDevice: case K::OptMemoryFormat: case K::OptGenerator:
      return true;
    default:
      return false;
  }
}

// --- guards: inputs that pass the schema but crash libtorch 1.13's kernels -----------------
// Found by test/fuzz (see test/fuzz/known-crashes.ts): each is refused with a JS error instead.

bool isIntegralTensor(const c10::IValue& v) {
  return v.isTensor() && c10::isIntegralType(v.toTensor().scalar_type(), /*includeBool=*/false);
}

// conv2d / conv_transpose2d: `groups` is truncated to int32 inside, so a multiple of 2^32 becomes
// 0 and divides by zero (SIGFPE).
void guardGroups(const std::vector<c10::IValue>& st, const std::string& label) {
  const int64_t g = st[6].toInt();
  TORCH_CHECK(g >= 1 && g <= INT32_MAX, label, ": groups must be in [1, 2^31 - 1], got ", g);
}

// pixel_shuffle / pixel_unshuffle: factor^2 overflows int64 for factors >= 2^32 (SIGFPE).
void guardUpscale(const std::vector<c10::IValue>& st, const std::string& label) {
  const int64_t r = st[1].toInt();
  TORCH_CHECK(r >= 1 && r <= INT32_MAX, label, ": the factor must be in [1, 2^31 - 1], got ", r);
}

// Integer division with rounding modes, remainder, fmod: INT_MIN / -1 traps in the hardware
// divide (SIGFPE). Only integer tensors pay for the check.
void guardIntDivision(const std::vector<c10::IValue>& st, const std::string& label) {
  if (!isIntegralTensor(st[0])) return;
  const at::Tensor& a = st[0].toTensor();
  bool minusOne = false;
  if (st[1].isTensor()) {
    const at::Tensor& b = st[1].toTensor();
    if (!c10::isIntegralType(b.scalar_type(), false)) return;
    if (b.numel() == 0) return;
    at::NoGradGuard ng;
    minusOne = b.eq(-1).any().item<bool>();
  } else if (st[1].isInt()) {
    minusOne = st[1].toInt() == -1;
  }
  if (!minusOne || a.numel() == 0) return;
  at::NoGradGuard ng;
  const bool hasMin = a.eq(a.min()).logical_and(a.lt(0)).any().item<bool>() &&
                      a.min().item<int64_t>() == (a.scalar_type() == at::kLong ? INT64_MIN
                                                  : a.scalar_type() == at::kInt ? static_cast<int64_t>(INT32_MIN)
                                                  : a.scalar_type() == at::kShort ? static_cast<int64_t>(INT16_MIN)
                                                                                   : static_cast<int64_t>(INT8_MIN));
  TORCH_CHECK(!hasMin, label, ": integer overflow: the minimum of ", a.scalar_type(),
              " divided by -1 (the hardware divide would trap)");
}

// searchsorted: libtorch 1.13 does not check `sorter` and reads out of bounds (SIGSEGV).
void guardSorter(const std::vector<c10::IValue>& st, const std::string& label) {
  if (!st[5].isTensor()) return;
  const at::Tensor& sorter = st[5].toTensor();
  const at::Tensor& seq = st[0].toTensor();
  if (sorter.numel() == 0) return;
  TORCH_CHECK(c10::isIntegralType(sorter.scalar_type(), false), label, ": sorter must be an integer tensor");
  TORCH_CHECK(sorter.sizes() == seq.sizes(), label, ": sorter must have the shape of sorted_sequence");
  at::NoGradGuard ng;
  const int64_t n = seq.dim() == 0 ? 1 : seq.size(-1);
  TORCH_CHECK(sorter.min().item<int64_t>() >= 0 && sorter.max().item<int64_t>() < n, label,
              ": sorter holds indices outside [0, ", n, ")");
}

// grid_sampler: an unknown interpolation or padding mode reads uninitialised memory instead of
// failing.
void guardGridModes(const std::vector<c10::IValue>& st, const std::string& label) {
  const int64_t interp = st[2].toInt();
  const int64_t pad = st[3].toInt();
  TORCH_CHECK(interp >= 0 && interp <= 2, label, ": interpolation_mode must be 0 (bilinear), 1 (nearest) or 2 (bicubic), got ", interp);
  TORCH_CHECK(pad >= 0 && pad <= 2, label, ": padding_mode must be 0 (zeros), 1 (border) or 2 (reflection), got ", pad);
}

Guard guardFor(const std::string& label) {
  if (label == "aten::grid_sampler") return &guardGridModes;
  if (label == "aten::conv2d" || label == "aten::conv_transpose2d.input") return &guardGroups;
  if (label == "aten::pixel_shuffle") return &guardUpscale;
  if (label == "aten::div.Tensor_mode" || label == "aten::div.Scalar_mode" || label == "aten::remainder.Tensor" ||
      label == "aten::remainder.Scalar" || label == "aten::fmod.Scalar")
    return &guardIntDivision;
  if (label == "aten::searchsorted.Tensor") return &guardSorter;
  return nullptr;
}

void prepare(Op& op, const OpSpec& spec) {
  op.label = std::string(spec.name) + (spec.overload[0] ? std::string(".") + spec.overload : "");
  auto h = c10::Dispatcher::singleton().findSchema({spec.name, spec.overload});
  if (!h || !h->hasSchema()) {
    op.error = op.label + " is not registered in the linked libtorch";
    return;
  }
  std::ostringstream os;
  os << h->schema();
  if (os.str() != spec.schema) {
    op.error = op.label + ": schema drift. Generated for '" + spec.schema + "', linked libtorch has '" +
               os.str() + "'; run scripts/gen-ops.mjs";
    return;
  }
  op.handle = new c10::OperatorHandle(*h);
  for (const auto& a : h->schema().arguments()) {
    ArgInfo ai;
    ai.name = a.name();
    if (!kindOf(a, &ai.kind)) {
      op.error = op.label + ": argument type " + a.real_type()->str() + " is not supported";
      return;
    }
    ai.n = a.N() ? *a.N() : -1;
    ai.hasDefault = a.default_value().has_value();
    if (ai.hasDefault) ai.def = *a.default_value();
    op.args.push_back(std::move(ai));
  }
  for (const auto& r : h->schema().returns()) {
    RetInfo ri;
    const bool written = r.alias_info() != nullptr && r.alias_info()->isWrite();
    const auto kind = r.type()->kind();
    if (written) ri.kind = RetInfo::Written;
    else if (kind == c10::TypeKind::TensorType) ri.kind = RetInfo::Tensor;
    else if (kind == c10::TypeKind::ListType) ri.kind = RetInfo::TensorList;
    else if (kind == c10::TypeKind::BoolType) ri.kind = RetInfo::Bool;
    else ri.kind = RetInfo::Number;
    op.rets.push_back(ri);
  }
  const auto& rs = op.rets;
  if (rs.empty() || (rs.size() == 1 && rs[0].kind == RetInfo::Written)) op.retKind = R::Void;
  else if (rs.size() == 1 && rs[0].kind == RetInfo::Tensor) op.retKind = R::Tensor;
  else if (rs.size() == 1 && (rs[0].kind == RetInfo::Number || rs[0].kind == RetInfo::Bool)) op.retKind = R::Value;
  else op.retKind = R::Tensors;
  op.guard = guardFor(op.label);
  op.ready = true;
}

[[noreturn]] void argError(Napi::Env env, const Op& op, const ArgInfo& a, const char* expected, Napi::Value v) {
  std::string got;
  switch (v.Type()) {
    case napi_undefined: got = "undefined"; break;
    case napi_null: got = "null"; break;
    case napi_boolean: got = "a boolean"; break;
    case napi_number: {
      std::ostringstream os;
      os << "the number " << v.As<Napi::Number>().DoubleValue();
      got = os.str();
      break;
    }
    case napi_string: got = "a string"; break;
    case napi_object: got = v.IsArray() ? "an array" : (TensorHandle::Unwrap(v) ? "a tensor" : "an object"); break;
    default: got = "a value of another type"; break;
  }
  throwType(env, op.label + ": argument '" + a.name + "' expects " + expected + ", got " + got);
}

bool isInteger(double d) { return std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18; }

int64_t toInt(Napi::Env env, const Op& op, const ArgInfo& a, Napi::Value v) {
  if (!v.IsNumber()) argError(env, op, a, "an integer", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!isInteger(d)) argError(env, op, a, "an integer", v);
  return static_cast<int64_t>(d);
}

c10::IValue toIntList(Napi::Env env, const Op& op, const ArgInfo& a, Napi::Value v) {
  std::vector<int64_t> out;
  if (v.IsNumber() && a.n > 0) {
    out.assign(static_cast<size_t>(a.n), toInt(env, op, a, v));
  } else if (v.IsArray()) {
    Napi::Array arr = v.As<Napi::Array>();
    const uint32_t len = arr.Length();
    out.reserve(len);
    // int[N] only means a single int broadcasts to N copies (as in PyTorch): lists of other
    // lengths are passed on, and ATen checks them (int[N] unboxes to IntArrayRef, never to a
    // fixed-size array, so a length mismatch cannot overrun anything).
    for (uint32_t i = 0; i < len; ++i) out.push_back(toInt(env, op, a, arr.Get(i)));
  } else {
    argError(env, op, a, a.n > 0 ? "an integer or an array of integers" : "an array of integers", v);
  }
  return c10::IValue(out);
}

at::Tensor toTensor(Napi::Env env, const Op& op, const ArgInfo& a, Napi::Value v) {
  TensorHandle* h = TensorHandle::Unwrap(v);
  if (h == nullptr) argError(env, op, a, "a tensor", v);
  if (!h->t.defined()) throw Napi::Error::New(env, op.label + ": argument '" + a.name + "' is a disposed tensor");
  return h->t;
}

c10::IValue convert(Napi::Env env, const Op& op, const ArgInfo& a, Napi::Value v) {
  const bool absent = v.IsUndefined();
  if (absent) {
    if (a.hasDefault) return a.def;
    if (isOptional(a.kind)) return c10::IValue();
    argError(env, op, a, "a value (it has no default)", v);
  }
  if (v.IsNull()) {
    if (isOptional(a.kind)) return c10::IValue();
    argError(env, op, a, "a value, not null", v);
  }
  switch (a.kind) {
    case K::Tensor:
    case K::OptTensor:
      return c10::IValue(toTensor(env, op, a, v));
    case K::TensorList: {
      if (!v.IsArray()) argError(env, op, a, "an array of tensors", v);
      Napi::Array arr = v.As<Napi::Array>();
      std::vector<at::Tensor> ts;
      ts.reserve(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) ts.push_back(toTensor(env, op, a, arr.Get(i)));
      return c10::IValue(ts);
    }
    case K::OptTensorList: {
      if (!v.IsArray()) argError(env, op, a, "an array of tensors or nulls", v);
      Napi::Array arr = v.As<Napi::Array>();
      c10::List<c10::optional<at::Tensor>> ts;
      ts.reserve(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value e = arr.Get(i);
        if (e.IsNull() || e.IsUndefined()) ts.push_back(c10::nullopt);
        else ts.push_back(toTensor(env, op, a, e));
      }
      return c10::IValue(ts);
    }
    case K::Int:
    case K::OptInt:
      return c10::IValue(toInt(env, op, a, v));
    case K::IntList:
    case K::OptIntList:
      return toIntList(env, op, a, v);
    case K::Float:
    case K::OptFloat:
      if (!v.IsNumber()) argError(env, op, a, "a number", v);
      return c10::IValue(v.As<Napi::Number>().DoubleValue());
    case K::OptFloatList: {
      if (!v.IsArray()) argError(env, op, a, "an array of numbers", v);
      Napi::Array arr = v.As<Napi::Array>();
      std::vector<double> out;
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value e = arr.Get(i);
        if (!e.IsNumber()) argError(env, op, a, "an array of numbers", v);
        out.push_back(e.As<Napi::Number>().DoubleValue());
      }
      return c10::IValue(out);
    }
    case K::Scalar:
    case K::OptScalar: {
      // An integral JS number becomes an integer Scalar, anything else a double: this decides
      // result dtypes (int64 tensor + 2 stays int64; + 2.5 becomes float).
      if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
      if (!v.IsNumber()) argError(env, op, a, "a number or boolean", v);
      const double d = v.As<Napi::Number>().DoubleValue();
      if (isInteger(d) && !(d == 0 && std::signbit(d))) return c10::IValue(static_cast<int64_t>(d));
      return c10::IValue(d);
    }
    case K::Bool:
    case K::OptBool:
      if (!v.IsBoolean()) argError(env, op, a, "a boolean", v);
      return c10::IValue(v.As<Napi::Boolean>().Value());
    case K::Str:
    case K::OptStr:
      if (!v.IsString()) argError(env, op, a, "a string", v);
      return c10::IValue(v.As<Napi::String>().Utf8Value());
    case K::ScalarType:
    case K::OptScalarType: {
      const int64_t code = toInt(env, op, a, v);
      if (code < 0 || code >= static_cast<int64_t>(c10::ScalarType::NumOptions))
        argError(env, op, a, "a dtype code", v);
      return c10::IValue(code);
    }
    case K::OptLayout: {
      const int64_t code = toInt(env, op, a, v);
      if (code != 0) argError(env, op, a, "the strided layout (0) or null", v);
      return c10::IValue(code);
    }
    case K::Device:
    case K::OptDevice:
      if (!v.IsString()) argError(env, op, a, "a device string such as 'cpu' or 'cuda:0'", v);
      return c10::IValue(c10::Device(v.As<Napi::String>().Utf8Value()));
    case K::MemoryFormat:
    case K::OptMemoryFormat: {
      const int64_t code = toInt(env, op, a, v);
      if (code < 0 || code >= static_cast<int64_t>(c10::MemoryFormat::NumOptions))
        argError(env, op, a, "a memory format code", v);
      return c10::IValue(code);
    }
    case K::OptGenerator: {
      GeneratorHandle* g = GeneratorHandle::Unwrap(v);
      if (g == nullptr) argError(env, op, a, "a generator or null", v);
      return c10::IValue(g->g);
    }
  }
  argError(env, op, a, "a supported value", v);
}

const Op& lookup(const Napi::CallbackInfo& info, R expected) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throwType(env, "op call: first argument must be an op id");
  const double idd = info[0].As<Napi::Number>().DoubleValue();
  if (!isInteger(idd) || idd < 0 || idd >= static_cast<double>(g_ops.size()))
    throwType(env, "op call: unknown op id");
  const Op& op = g_ops[static_cast<size_t>(idd)];
  if (!op.ready) throw Napi::Error::New(env, op.error);
  if (op.retKind != expected) throwType(env, op.label + ": called through the wrong return kind");
  if (info.Length() - 1 > op.args.size())
    throwType(env, op.label + ": expects at most " + std::to_string(op.args.size()) + " arguments, got " +
                       std::to_string(info.Length() - 1));
  return op;
}

void buildStack(const Napi::CallbackInfo& info, const Op& op, std::vector<c10::IValue>& stack) {
  Napi::Env env = info.Env();
  stack.reserve(op.args.size());
  const size_t given = info.Length() - 1;
  for (size_t i = 0; i < op.args.size(); ++i) {
    Napi::Value v = i < given ? info[i + 1] : env.Undefined();
    stack.push_back(convert(env, op, op.args[i], v));
  }
}

Napi::Value fromIValue(Napi::Env env, const RetInfo& r, c10::IValue& v) {
  switch (r.kind) {
    case RetInfo::Written:
      return env.Undefined();
    case RetInfo::Tensor: {
      if (v.isNone()) return env.Null();
      at::Tensor t = v.toTensor();
      if (!t.defined()) return env.Null();
      return TensorHandle::New(env, std::move(t));
    }
    case RetInfo::TensorList: {
      auto list = v.toTensorVector();
      Napi::Array arr = Napi::Array::New(env, list.size());
      for (size_t i = 0; i < list.size(); ++i) arr.Set(static_cast<uint32_t>(i), TensorHandle::New(env, list[i]));
      return arr;
    }
    case RetInfo::Bool:
      return Napi::Boolean::New(env, v.toBool());
    case RetInfo::Number: {
      if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
      if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
      if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
      if (v.isScalar()) {
        at::Scalar s = v.toScalar();
        if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
        if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
        return Napi::Number::New(env, s.toDouble());
      }
      throw Napi::Error::New(env, "unsupported return value");
    }
  }
  return env.Undefined();
}

Napi::Value results(Napi::Env env, const Op& op, std::vector<c10::IValue>& stack) {
  if (op.retKind == R::Void) return env.Undefined();
  if (op.retKind == R::Tensors && op.rets.size() == 1) return fromIValue(env, op.rets[0], stack[0]);
  if (op.rets.size() == 1) return fromIValue(env, op.rets[0], stack[0]);
  Napi::Array arr = Napi::Array::New(env, op.rets.size());
  for (size_t i = 0; i < op.rets.size(); ++i) arr.Set(static_cast<uint32_t>(i), fromIValue(env, op.rets[i], stack[i]));
  return arr;
}

template <R Kind>
Napi::Value Call(const Napi::CallbackInfo& info) {
  DETKD_BODY({
    const Op& op = lookup(info, Kind);
    std::vector<c10::IValue> stack;
    buildStack(info, op, stack);
    ensureThreads();
    if (op.guard != nullptr) op.guard(stack, op.label);
    op.handle->callBoxed(&stack);
    return results(info.Env(), op, stack);
  });
}

// Runs an op on a libuv pool thread. Grad mode and the other thread-local settings are
// captured when the call is made and installed on the worker (they are thread-local, and an
// op started inside noGrad must not record a graph).
class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, const Op& op, std::vector<c10::IValue> stack)
      : Napi::AsyncWorker(env), op_(op), stack_(std::move(stack)), deferred_(Napi::Promise::Deferred::New(env)) {}
  void Execute() override {
    try {
      at::ThreadLocalStateGuard guard(state_);
      ensureThreads();
      op_.handle->callBoxed(&stack_);
    } catch (const c10::Error& e) {
      SetError(e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("detkd native: unknown C++ exception");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(results(env, op_, stack_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }
  Napi::Promise promise() { return deferred_.Promise(); }

 private:
  const Op& op_;
  std::vector<c10::IValue> stack_;
  at::ThreadLocalState state_;
  Napi::Promise::Deferred deferred_;
};

DETKD_FN(CallAsync) {
  DETKD_BODY({
    if (info.Length() < 1 || !info[0].IsNumber()) throwType(info.Env(), "op call: first argument must be an op id");
    const double idd = info[0].As<Napi::Number>().DoubleValue();
    if (!isInteger(idd) || idd < 0 || idd >= static_cast<double>(g_ops.size()))
      throwType(info.Env(), "op call: unknown op id");
    const Op& op = g_ops[static_cast<size_t>(idd)];
    if (!op.ready) throw Napi::Error::New(info.Env(), op.error);
    if (info.Length() - 1 > op.args.size()) throwType(info.Env(), op.label + ": too many arguments");
    std::vector<c10::IValue> stack;
    buildStack(info, op, stack);
    if (op.guard != nullptr) op.guard(stack, op.label);
    auto* w = new OpWorker(info.Env(), op, std::move(stack));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

DETKD_FN(OpTable) {
  DETKD_BODY({
    Napi::Env env = info.Env();
    Napi::Array arr = Napi::Array::New(env, g_ops.size());
    for (size_t i = 0; i < g_ops.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", g_ops[i].label);
      o.Set("ready", g_ops[i].ready);
      if (!g_ops[i].ready) o.Set("error", g_ops[i].error);
      arr.Set(static_cast<uint32_t>(i), o);
    }
    return arr;
  });
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) {
  g_ops.resize(kNumOps);
  for (size_t i = 0; i < kNumOps; ++i) prepare(g_ops[i], kOps[i]);
  exports.Set("callTensor", Napi::Function::New<Call<R::Tensor>>(env, "callTensor"));
  exports.Set("callTensors", Napi::Function::New<Call<R::Tensors>>(env, "callTensors"));
  exports.Set("callVoid", Napi::Function::New<Call<R::Void>>(env, "callVoid"));
  exports.Set("callValue", Napi::Function::New<Call<R::Value>>(env, "callValue"));
  exports.Set("callAsync", Napi::Function::New<CallAsync>(env, "callAsync"));
  exports.Set("opTable", Napi::Function::New<OpTable>(env, "opTable"));
}

}  // namespace detkd
