// oneDNN convolutions and sgemm for tfjs's wasm backend, on Float32Arrays that view the wasm heap;
// with them, hand-written loops for what oneDNN does not fuse: the (leaky) ReLU's backward pass,
// bias + activation + 2x2 max pool and its backward pass, and Adam's update.
//
// Layouts are tfjs's: activations NHWC, filters [fh, fw, inC, outC] (oneDNN `hwio`). Convolution
// primitives are created with weights in `format_tag::any`, so oneDNN picks its blocked layout
// (brgconv / jit:avx512 need it: with plain hwio weights it falls back to gemm:jit at about half the
// speed); the caller's hwio filter is reordered into a per-geometry scratch buffer (or, for
// backward-weights, the blocked result is reordered out into the caller's array).
//
// Primitive creation costs milliseconds, so every primitive, its weight reorder and its blocked
// weight buffer are cached by the full geometry; a call binds the caller's arrays with
// set_data_handle and executes. Everything runs on the calling (JavaScript main) thread's OpenMP
// team: setThreads sets its size.

#include <napi.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine &cpuEngine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream &cpuStream() {
  static dnnl::stream s(cpuEngine());
  return s;
}

// ForwardFused: y = act(conv2d(x, filter) + bias) in one primitive, the bias and the (leaky) ReLU
// applied while each output block is still in cache (a post-op); see Fusion.
enum class ConvKind { Forward = 0, BackwardData = 1, BackwardWeights = 2, ForwardFused = 3 };

// What ForwardFused adds to the convolution: a per-channel bias, and an activation max(z, alpha z)
// (alpha 0: ReLU; oneDNN's eltwise_relu with its negative slope).
struct Fusion {
  bool bias = false;
  bool act = false;
  float alpha = 0.0f;
  std::array<int64_t, 3> key() const {
    uint32_t bits;
    std::memcpy(&bits, &alpha, sizeof bits);
    return {bias ? 1 : 0, act ? 1 : 0, act ? static_cast<int64_t>(bits) : 0};
  }
  std::string describe() const {
    std::ostringstream s;
    if (bias) s << " + bias";
    if (act && alpha == 0.0f) s << ", relu";
    else if (act) s << ", leaky relu " << alpha;
    return s.str();
  }
};

const char *kindName(ConvKind k) {
  switch (k) {
    case ConvKind::Forward: return "conv2d";
    case ConvKind::BackwardData: return "conv2dBackwardData";
    case ConvKind::BackwardWeights: return "conv2dBackwardWeights";
    case ConvKind::ForwardFused: return "conv2dFused";
  }
  return "?";
}

// One convolution's geometry in tfjs terms. pb/pr are tfjs's bottom/right pads; the pads oneDNN
// gets on those sides are derived from the output size (see oneDnnPadR).
struct ConvGeom {
  int64_t n, h, w, c, oh, ow, k, fh, fw, sh, sw, pt, pb, pl, pr;
  std::array<int64_t, 15> key() const { return {n, h, w, c, oh, ow, k, fh, fw, sh, sw, pt, pb, pl, pr}; }
  std::string describe() const {
    std::ostringstream s;
    s << "x [" << n << ", " << h << ", " << w << ", " << c << "], filter [" << fh << ", " << fw << ", " << c << ", " << k
      << "], y [" << n << ", " << oh << ", " << ow << ", " << k << "], strides [" << sh << ", " << sw << "], pads top "
      << pt << " bottom " << pb << " left " << pl << " right " << pr;
    return s.str();
  }
};

// oneDNN requires out = (in + padL + padR - f) / s + 1 (floor). tfjs's own pads satisfy that except
// with dimRoundingMode 'ceil'/'round', where the output can have one more row: there the far pad is
// whatever makes the last window start where tfjs's does (positions past the input read zeros).
int64_t oneDnnPadR(int64_t in, int64_t out, int64_t f, int64_t s, int64_t padL, int64_t padR) {
  if ((in + padL + padR - f) >= 0 && (in + padL + padR - f) / s + 1 == out) return padR;
  return (out - 1) * s + f - in - padL;
}

struct ConvEntry {
  dnnl::primitive prim;
  std::string impl;
  memory act;        // x (forward, backward-weights) or dx (backward-data), NHWC, caller's array
  memory grad;       // y (forward) or dy (backward-data, backward-weights), NHWC, caller's array
  memory userW;      // the caller's filter or filter gradient, hwio
  memory primW;      // the primitive's weights (== userW when oneDNN chose hwio itself)
  memory bias;       // the caller's bias [k] (ForwardFused with a bias)
  bool reorderW = false;
  dnnl::reorder wReorder;  // userW -> primW (forward, backward-data) or primW -> userW (backward-weights)
};

// Key: kind, the geometry (15 values) and the fusion (3: ForwardFused only, zeros otherwise).
using ConvKey = std::pair<int, std::array<int64_t, 18>>;
std::map<ConvKey, std::unique_ptr<ConvEntry>> convCache;
constexpr size_t kMaxCachedConvs = 512;

std::unique_ptr<ConvEntry> createConv(ConvKind kind, const ConvGeom &g, const Fusion &f) {
  auto &eng = cpuEngine();
  const int64_t padB = oneDnnPadR(g.h, g.oh, g.fh, g.sh, g.pt, g.pb);
  const int64_t padR = oneDnnPadR(g.w, g.ow, g.fw, g.sw, g.pl, g.pr);
  memory::desc act({g.n, g.c, g.h, g.w}, dt::f32, tag::nhwc);
  memory::desc out({g.n, g.k, g.oh, g.ow}, dt::f32, tag::nhwc);
  memory::desc wAny({g.k, g.c, g.fh, g.fw}, dt::f32, tag::any);
  memory::desc wUser({g.k, g.c, g.fh, g.fw}, dt::f32, tag::hwio);
  const memory::dims strides{g.sh, g.sw}, padL{g.pt, g.pl}, padRight{padB, padR};

  auto fwdDesc = dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, act, wAny, out, strides, padL, padRight);
  auto fwdPd = dnnl::convolution_forward::primitive_desc(fwdDesc, eng);

  auto e = std::make_unique<ConvEntry>();
  memory::desc wPrim;
  switch (kind) {
    case ConvKind::ForwardFused: {
      memory::desc biasDesc({g.k}, dt::f32, tag::x);
      auto d = f.bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, act, wAny, biasDesc, out, strides, padL, padRight)
                      : fwdDesc;
      dnnl::primitive_attr attr;
      if (f.act) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, f.alpha, 0.0f);
        attr.set_post_ops(ops);
      }
      auto pd = dnnl::convolution_forward::primitive_desc(d, attr, eng);
      e->prim = dnnl::convolution_forward(pd);
      e->impl = pd.impl_info_str();
      wPrim = pd.weights_desc();
      if (f.bias) e->bias = memory(biasDesc, eng, DNNL_MEMORY_NONE);
      break;
    }
    case ConvKind::Forward:
      e->prim = dnnl::convolution_forward(fwdPd);
      e->impl = fwdPd.impl_info_str();
      wPrim = fwdPd.weights_desc();
      break;
    case ConvKind::BackwardData: {
      auto d = dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, act, wAny, out, strides, padL, padRight);
      auto pd = dnnl::convolution_backward_data::primitive_desc(d, eng, fwdPd);
      e->prim = dnnl::convolution_backward_data(pd);
      e->impl = pd.impl_info_str();
      wPrim = pd.weights_desc();
      break;
    }
    case ConvKind::BackwardWeights: {
      auto d = dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, act, wAny, out, strides, padL, padRight);
      auto pd = dnnl::convolution_backward_weights::primitive_desc(d, eng, fwdPd);
      e->prim = dnnl::convolution_backward_weights(pd);
      e->impl = pd.impl_info_str();
      wPrim = pd.diff_weights_desc();
      break;
    }
  }
  e->act = memory(act, eng, DNNL_MEMORY_NONE);
  e->grad = memory(out, eng, DNNL_MEMORY_NONE);
  e->userW = memory(wUser, eng, DNNL_MEMORY_NONE);
  if (wPrim == wUser) {
    e->primW = e->userW;
  } else {
    e->reorderW = true;
    e->primW = memory(wPrim, eng);  // the blocked scratch buffer, owned by oneDNN
    e->wReorder = kind == ConvKind::BackwardWeights ? dnnl::reorder(e->primW, e->userW) : dnnl::reorder(e->userW, e->primW);
  }
  return e;
}

ConvEntry &convEntry(ConvKind kind, const ConvGeom &g, const Fusion &f) {
  ConvKey key{static_cast<int>(kind), {}};
  const auto gk = g.key();
  const auto fk = kind == ConvKind::ForwardFused ? f.key() : std::array<int64_t, 3>{0, 0, 0};
  std::copy(gk.begin(), gk.end(), key.second.begin());
  std::copy(fk.begin(), fk.end(), key.second.begin() + 15);
  auto it = convCache.find(key);
  if (it != convCache.end()) return *it->second;
  if (convCache.size() >= kMaxCachedConvs) convCache.clear();
  auto entry = createConv(kind, g, f);
  auto &ref = *entry;
  convCache.emplace(key, std::move(entry));
  return ref;
}

// ---------------------------------------------------------------------------------------------
// Argument checking

struct F32 {
  float *data;
  size_t length;
};

F32 f32Arg(const Napi::CallbackInfo &info, size_t i, const char *kernel, const char *name) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(kernel) + ": argument " + std::to_string(i) + " ('" + name + "') must be a Float32Array");
  }
  auto a = info[i].As<Napi::Float32Array>();
  return {a.Data(), a.ElementLength()};
}

// A Float32Array argument that may be null or undefined (then {nullptr, 0}).
F32 optionalF32(const Napi::CallbackInfo &info, size_t i, const char *kernel, const char *name) {
  return info.Length() > i && !info[i].IsNull() && !info[i].IsUndefined() ? f32Arg(info, i, kernel, name) : F32{nullptr, 0};
}

// A (leaky) ReLU's negative slope: a finite number >= 0.
float alphaArg(const Napi::CallbackInfo &info, size_t i, const char *kernel) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(kernel) + ": argument " + std::to_string(i) + " ('alpha') must be a number");
  const float alpha = info[i].As<Napi::Number>().FloatValue();
  if (!(alpha >= 0.0f) || !std::isfinite(alpha)) throw Napi::RangeError::New(info.Env(), std::string(kernel) + ": 'alpha' must be finite and >= 0, got " + std::to_string(alpha));
  return alpha;
}

int64_t intArg(const Napi::CallbackInfo &info, size_t i, const char *kernel, const char *name, int64_t min) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(kernel) + ": argument " + std::to_string(i) + " ('" + name + "') must be a number");
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v == std::floor(v)) || v < static_cast<double>(min) || v > 9.0e15) {
    throw Napi::RangeError::New(info.Env(), std::string(kernel) + ": '" + name + "' must be an integer >= " + std::to_string(min) + ", got " + std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

bool boolArg(const Napi::CallbackInfo &info, size_t i, const char *kernel, const char *name) {
  if (info.Length() <= i || !info[i].IsBoolean()) {
    throw Napi::TypeError::New(info.Env(), std::string(kernel) + ": argument " + std::to_string(i) + " ('" + name + "') must be a boolean");
  }
  return info[i].As<Napi::Boolean>().Value();
}

void checkLength(Napi::Env env, const char *kernel, const char *name, const F32 &a, int64_t expected, const std::string &shapes) {
  if (static_cast<int64_t>(a.length) != expected) {
    throw Napi::RangeError::New(env, std::string(kernel) + ": '" + name + "' has " + std::to_string(a.length) + " floats, expected " + std::to_string(expected) + " (" + shapes + ")");
  }
}

void checkDisjoint(Napi::Env env, const char *kernel, const char *outName, const F32 &out, const char *inName, const F32 &in) {
  const float *o0 = out.data, *o1 = out.data + out.length, *i0 = in.data, *i1 = in.data + in.length;
  if (out.length > 0 && in.length > 0 && o0 < i1 && i0 < o1) {
    throw Napi::RangeError::New(env, std::string(kernel) + ": output '" + outName + "' overlaps input '" + inName + "'");
  }
}

[[noreturn]] void rethrowDnnl(Napi::Env env, const std::string &what, const dnnl::error &e) {
  throw Napi::Error::New(env, "oneDNN " + what + " failed: " + e.what() + " (dnnl_status " + std::to_string(static_cast<int>(e.status)) + ")");
}

// ---------------------------------------------------------------------------------------------
// Convolutions: (a, b, out, n, h, w, c, oh, ow, k, fh, fw, sh, sw, pt, pb, pl, pr)
//   conv2d:                (x, filter, y)
//   conv2dBackwardData:    (dy, filter, dx)
//   conv2dBackwardWeights: (x, dy, dw)

ConvGeom convGeomArgs(const Napi::CallbackInfo &info, const char *kernel) {
  static const char *names[] = {"n", "h", "w", "c", "oh", "ow", "k", "fh", "fw", "sh", "sw", "pt", "pb", "pl", "pr"};
  int64_t v[15];
  for (int i = 0; i < 15; i++) v[i] = intArg(info, 3 + i, kernel, names[i], i < 11 ? 1 : 0);
  ConvGeom g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14]};
  // The last window must start inside the padded input and every window must overlap the input or
  // its near pad, or the geometry is not one tfjs produces.
  const int64_t lastRow = (g.oh - 1) * g.sh - g.pt, lastCol = (g.ow - 1) * g.sw - g.pl;
  if (lastRow >= g.h + g.pb || lastCol >= g.w + g.pr || g.fh > g.h + g.pt + g.pb || g.fw > g.w + g.pl + g.pr) {
    throw Napi::RangeError::New(info.Env(), std::string(kernel) + ": inconsistent geometry: " + g.describe());
  }
  return g;
}

Napi::Value runConv(const Napi::CallbackInfo &info, ConvKind kind, const Fusion &fusion = Fusion{}) {
  Napi::Env env = info.Env();
  const char *kernel = kindName(kind);
  ConvGeom g = convGeomArgs(info, kernel);
  const int64_t xSize = g.n * g.h * g.w * g.c, ySize = g.n * g.oh * g.ow * g.k, wSize = g.fh * g.fw * g.c * g.k;
  const std::string shapes = g.describe() + fusion.describe();
  F32 a{}, b{}, out{};
  F32 bias{};
  switch (kind) {
    case ConvKind::ForwardFused:
      if (fusion.bias) {
        bias = f32Arg(info, 18, kernel, "bias");
        checkLength(env, kernel, "bias", bias, g.k, shapes);
      }
      [[fallthrough]];
    case ConvKind::Forward:
      a = f32Arg(info, 0, kernel, "x"), b = f32Arg(info, 1, kernel, "filter"), out = f32Arg(info, 2, kernel, "y");
      checkLength(env, kernel, "x", a, xSize, shapes), checkLength(env, kernel, "filter", b, wSize, shapes), checkLength(env, kernel, "y", out, ySize, shapes);
      break;
    case ConvKind::BackwardData:
      a = f32Arg(info, 0, kernel, "dy"), b = f32Arg(info, 1, kernel, "filter"), out = f32Arg(info, 2, kernel, "dx");
      checkLength(env, kernel, "dy", a, ySize, shapes), checkLength(env, kernel, "filter", b, wSize, shapes), checkLength(env, kernel, "dx", out, xSize, shapes);
      break;
    case ConvKind::BackwardWeights:
      a = f32Arg(info, 0, kernel, "x"), b = f32Arg(info, 1, kernel, "dy"), out = f32Arg(info, 2, kernel, "dw");
      checkLength(env, kernel, "x", a, xSize, shapes), checkLength(env, kernel, "dy", b, ySize, shapes), checkLength(env, kernel, "dw", out, wSize, shapes);
      break;
  }
  checkDisjoint(env, kernel, "out", out, "first input", a);
  checkDisjoint(env, kernel, "out", out, "second input", b);
  if (fusion.bias) checkDisjoint(env, kernel, "out", out, "bias", bias);
  try {
    ConvEntry &e = convEntry(kind, g, fusion);
    auto &s = cpuStream();
    switch (kind) {
      case ConvKind::Forward:
        e.act.set_data_handle(a.data), e.userW.set_data_handle(b.data), e.grad.set_data_handle(out.data);
        if (e.reorderW) e.wReorder.execute(s, e.userW, e.primW);
        e.prim.execute(s, {{DNNL_ARG_SRC, e.act}, {DNNL_ARG_WEIGHTS, e.primW}, {DNNL_ARG_DST, e.grad}});
        break;
      case ConvKind::ForwardFused:
        e.act.set_data_handle(a.data), e.userW.set_data_handle(b.data), e.grad.set_data_handle(out.data);
        if (e.reorderW) e.wReorder.execute(s, e.userW, e.primW);
        if (fusion.bias) {
          e.bias.set_data_handle(bias.data);
          e.prim.execute(s, {{DNNL_ARG_SRC, e.act}, {DNNL_ARG_WEIGHTS, e.primW}, {DNNL_ARG_BIAS, e.bias}, {DNNL_ARG_DST, e.grad}});
        } else {
          e.prim.execute(s, {{DNNL_ARG_SRC, e.act}, {DNNL_ARG_WEIGHTS, e.primW}, {DNNL_ARG_DST, e.grad}});
        }
        break;
      case ConvKind::BackwardData:
        e.grad.set_data_handle(a.data), e.userW.set_data_handle(b.data), e.act.set_data_handle(out.data);
        if (e.reorderW) e.wReorder.execute(s, e.userW, e.primW);
        e.prim.execute(s, {{DNNL_ARG_DIFF_DST, e.grad}, {DNNL_ARG_WEIGHTS, e.primW}, {DNNL_ARG_DIFF_SRC, e.act}});
        break;
      case ConvKind::BackwardWeights:
        e.act.set_data_handle(a.data), e.grad.set_data_handle(b.data), e.userW.set_data_handle(out.data);
        e.prim.execute(s, {{DNNL_ARG_SRC, e.act}, {DNNL_ARG_DIFF_DST, e.grad}, {DNNL_ARG_DIFF_WEIGHTS, e.primW}});
        if (e.reorderW) e.wReorder.execute(s, e.primW, e.userW);
        break;
    }
    s.wait();
  } catch (const dnnl::error &err) {
    rethrowDnnl(env, std::string(kernel) + " (" + shapes + ")", err);
  }
  return env.Undefined();
}

Napi::Value Conv2d(const Napi::CallbackInfo &info) { return runConv(info, ConvKind::Forward); }
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo &info) { return runConv(info, ConvKind::BackwardData); }
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo &info) { return runConv(info, ConvKind::BackwardWeights); }
// conv2dFused(x, filter, y, ...geometry, bias | null, alpha | null): y = conv2d(x, filter) (+ bias),
// then max(y, alpha y) unless alpha is null.
Napi::Value Conv2dFused(const Napi::CallbackInfo &info) {
  Fusion f;
  f.bias = info.Length() > 18 && !info[18].IsNull() && !info[18].IsUndefined();
  f.act = info.Length() > 19 && !info[19].IsNull() && !info[19].IsUndefined();
  if (f.act) {
    if (!info[19].IsNumber()) throw Napi::TypeError::New(info.Env(), "conv2dFused: argument 19 ('alpha') must be a number or null");
    f.alpha = info[19].As<Napi::Number>().FloatValue();
    if (!std::isfinite(f.alpha)) throw Napi::RangeError::New(info.Env(), "conv2dFused: 'alpha' must be finite");
  }
  return runConv(info, ConvKind::ForwardFused, f);
}

// ---------------------------------------------------------------------------------------------
// reluBiasBackward(dy, y, dx, db | null, rows, channels, alpha)
//
// The backward pass of y = max(z, alpha z), z = conv + bias, over [rows, channels] row-major:
// dx = dy where y > 0, else alpha dy (the gradient at z: y > 0 exactly where z > 0, for alpha >= 0),
// and db[c] = the sum of dx[., c] over the rows. One pass over dy and y.

// One row: dx = dy where y > 0, else +0 (a bit mask, so no branch and no 0 * inf), acc += dx.
// Branch-free so that it vectorises (random signs made a branchy loop 15-20x slower); -O3 for these
// functions only (the build's -O2 does not vectorise them). dx may alias dy; acc may be null.
__attribute__((optimize("O3"))) void maskRow(const float *dy, const float *__restrict y, float *dx, float *__restrict acc, int64_t channels) {
  for (int64_t c = 0; c < channels; c++) {
    uint32_t bits;
    std::memcpy(&bits, dy + c, sizeof bits);
    bits &= y[c] > 0.0f ? 0xffffffffu : 0u;
    float v;
    std::memcpy(&v, &bits, sizeof v);
    dx[c] = v;
  }
  if (acc)
    for (int64_t c = 0; c < channels; c++) acc[c] += dx[c];
}

// The same with a negative slope: dx = dy * (y > 0 ? 1 : alpha).
__attribute__((optimize("O3"))) void slopeRow(const float *dy, const float *__restrict y, float *dx, float *__restrict acc, int64_t channels, float alpha) {
  uint32_t one, slope;
  const float oneF = 1.0f;
  std::memcpy(&one, &oneF, sizeof one);
  std::memcpy(&slope, &alpha, sizeof slope);
  for (int64_t c = 0; c < channels; c++) {
    // The factor picked with bit masks, not a select: GCC leaves a float select as a branch here.
    const uint32_t m = y[c] > 0.0f ? 0xffffffffu : 0u;
    const uint32_t bits = (one & m) | (slope & ~m);
    float k;
    std::memcpy(&k, &bits, sizeof k);
    dx[c] = dy[c] * k;
  }
  if (acc)
    for (int64_t c = 0; c < channels; c++) acc[c] += dx[c];
}

Napi::Value ReluBiasBackward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const char *kernel = "reluBiasBackward";
  F32 dy = f32Arg(info, 0, kernel, "dy"), y = f32Arg(info, 1, kernel, "y"), dx = f32Arg(info, 2, kernel, "dx");
  const F32 db = optionalF32(info, 3, kernel, "db");
  const bool hasDb = db.data != nullptr;
  const int64_t rows = intArg(info, 4, kernel, "rows", 1), channels = intArg(info, 5, kernel, "channels", 1);
  const float alpha = alphaArg(info, 6, kernel);
  const std::string shapes = "[" + std::to_string(rows) + ", " + std::to_string(channels) + "]";
  checkLength(env, kernel, "dy", dy, rows * channels, shapes);
  checkLength(env, kernel, "y", y, rows * channels, shapes);
  checkLength(env, kernel, "dx", dx, rows * channels, shapes);
  if (hasDb) {
    checkLength(env, kernel, "db", db, channels, shapes);
    checkDisjoint(env, kernel, "db", db, "dy", dy);
    checkDisjoint(env, kernel, "db", db, "y", y);
    checkDisjoint(env, kernel, "db", db, "dx", dx);
  }
  // dx may be dy itself (in place); it may not partly overlap dy or y.
  if (dx.data != dy.data) checkDisjoint(env, kernel, "dx", dx, "dy", dy);
  checkDisjoint(env, kernel, "dx", dx, "y", y);
  std::vector<double> total(static_cast<size_t>(channels), 0.0);
  std::vector<float> block(static_cast<size_t>(channels));
  // Rows are summed in float in blocks of 64 and the blocks in double.
  constexpr int64_t kBlock = 64;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    std::fill(block.begin(), block.end(), 0.0f);
    float *acc = hasDb ? block.data() : nullptr;
    const int64_t r1 = std::min(rows, r0 + kBlock);
    for (int64_t r = r0; r < r1; r++) {
      const int64_t at = r * channels;
      if (alpha == 0.0f) maskRow(dy.data + at, y.data + at, dx.data + at, acc, channels);
      else slopeRow(dy.data + at, y.data + at, dx.data + at, acc, channels, alpha);
    }
    if (hasDb)
      for (int64_t c = 0; c < channels; c++) total[static_cast<size_t>(c)] += block[static_cast<size_t>(c)];
  }
  if (hasDb)
    for (int64_t c = 0; c < channels; c++) db.data[c] = static_cast<float>(total[static_cast<size_t>(c)]);
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// matmul(a, b, c, batch, m, n, k, transA, transB, broadcastA, broadcastB, bias | null, activation, alpha)
//
// c[i] = act(op(a[i]) op(b[i]) + bias) for i < batch, row-major; op transposes when the flag is set
// (a[i] is [k, m] then, b[i] [n, k]). A broadcast operand has one matrix shared by every i. bias is
// null or n floats added to every row. activation: 0 linear, 1 relu, 2 relu6, 3 leakyrelu (alpha),
// 4 elu, 5 sigmoid.

enum Activation { Linear = 0, Relu = 1, Relu6 = 2, LeakyRelu = 3, Elu = 4, Sigmoid = 5 };

void activate(float *c, int64_t size, int activation, float alpha) {
  switch (activation) {
    case Linear: break;
    case Relu: for (int64_t i = 0; i < size; i++) c[i] = c[i] < 0 ? 0 : c[i]; break;
    case Relu6: for (int64_t i = 0; i < size; i++) c[i] = c[i] < 0 ? 0 : (c[i] > 6 ? 6 : c[i]); break;
    case LeakyRelu: for (int64_t i = 0; i < size; i++) c[i] = c[i] < 0 ? alpha * c[i] : c[i]; break;
    case Elu: for (int64_t i = 0; i < size; i++) c[i] = c[i] < 0 ? std::expm1(c[i]) : c[i]; break;
    case Sigmoid: for (int64_t i = 0; i < size; i++) c[i] = 1.0f / (1.0f + std::exp(-c[i])); break;
  }
}

// c [rows, cols] = t^T (or c += t^T), t [cols, rows]: in column blocks, so that a block's rows of t
// stay in cache while c's rows are written in order.
__attribute__((optimize("O3"))) void transposeInto(const float *t, float *c, int64_t cols, int64_t rows, bool add) {
  constexpr int64_t kCols = 64;
  for (int64_t j0 = 0; j0 < cols; j0 += kCols) {
    const int64_t j1 = std::min(cols, j0 + kCols);
    for (int64_t i = 0; i < rows; i++) {
      float *ci = c + i * cols;
      const float *ti = t + i;
      if (add)
        for (int64_t j = j0; j < j1; j++) ci[j] += ti[j * rows];
      else
        for (int64_t j = j0; j < j1; j++) ci[j] = ti[j * rows];
    }
  }
}

Napi::Value Matmul(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const char *kernel = "matmul";
  F32 a = f32Arg(info, 0, kernel, "a"), b = f32Arg(info, 1, kernel, "b"), c = f32Arg(info, 2, kernel, "c");
  const int64_t batch = intArg(info, 3, kernel, "batch", 1), m = intArg(info, 4, kernel, "m", 1), n = intArg(info, 5, kernel, "n", 1), k = intArg(info, 6, kernel, "k", 1);
  const bool transA = boolArg(info, 7, kernel, "transA"), transB = boolArg(info, 8, kernel, "transB");
  const bool broadcastA = boolArg(info, 9, kernel, "broadcastA"), broadcastB = boolArg(info, 10, kernel, "broadcastB");
  const bool hasBias = info.Length() > 11 && !info[11].IsNull() && !info[11].IsUndefined();
  F32 bias = hasBias ? f32Arg(info, 11, kernel, "bias") : F32{nullptr, 0};
  const int activation = static_cast<int>(intArg(info, 12, kernel, "activation", 0));
  if (activation > Sigmoid) throw Napi::RangeError::New(env, "matmul: unknown activation code " + std::to_string(activation));
  if (info.Length() <= 13 || !info[13].IsNumber()) throw Napi::TypeError::New(env, "matmul: argument 13 ('alpha') must be a number");
  const float alpha = info[13].As<Napi::Number>().FloatValue();

  std::ostringstream d;
  d << "batch " << batch << ", " << (transA ? "a^T" : "a") << " [" << m << " x " << k << "]" << (broadcastA ? " shared" : "") << ", " << (transB ? "b^T" : "b") << " [" << k << " x " << n << "]"
    << (broadcastB ? " shared" : "") << (hasBias ? ", bias" : "");
  const std::string shapes = d.str();
  checkLength(env, kernel, "a", a, (broadcastA ? 1 : batch) * m * k, shapes);
  checkLength(env, kernel, "b", b, (broadcastB ? 1 : batch) * k * n, shapes);
  checkLength(env, kernel, "c", c, batch * m * n, shapes);
  if (hasBias) checkLength(env, kernel, "bias", bias, n, shapes);
  checkDisjoint(env, kernel, "c", c, "a", a);
  checkDisjoint(env, kernel, "c", c, "b", b);
  if (hasBias) checkDisjoint(env, kernel, "c", c, "bias", bias);

  // Rows of every a[i] against one b: one product with batch * m rows.
  const bool fold = broadcastB && !broadcastA && !transA;
  const int64_t calls = fold ? 1 : batch, rows = fold ? batch * m : m;
  const int64_t lda = transA ? m : k, ldb = transB ? k : n;
  if (hasBias) {
    for (int64_t r = 0; r < batch * m; r++) std::copy(bias.data, bias.data + n, c.data + r * n);
  }
  // a [few rows] times b^T (a dense layer's input gradient, dz w^T): oneDNN's sgemm took 1.5-2x as
  // long on this shape as on the swapped product c^T = b a^T (64 px fc1, [16 x 128] x [16384 x 128]^T:
  // 1.9 vs 0.86 ms), so that is made into a scratch buffer and transposed in (0.1 ms).
  const bool swapped = !transA && transB && rows <= 32 && k >= 96 && n * k >= (int64_t{1} << 18);
  static thread_local std::vector<float> scratch;
  if (swapped) scratch.resize(static_cast<size_t>(rows * n));
  for (int64_t i = 0; i < calls; i++) {
    const float *ai = a.data + (broadcastA ? 0 : i * m * k);
    const float *bi = b.data + (broadcastB ? 0 : i * k * n);
    float *ci = c.data + i * m * n;
    dnnl_status_t st = swapped ? dnnl_sgemm('N', 'T', n, rows, k, 1.0f, bi, ldb, ai, lda, 0.0f, scratch.data(), rows)
                               : dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', rows, n, k, 1.0f, ai, lda, bi, ldb, hasBias ? 1.0f : 0.0f, ci, n);
    if (st != dnnl_success) throw Napi::Error::New(env, "oneDNN sgemm failed (" + shapes + "): dnnl_status " + std::to_string(static_cast<int>(st)));
    if (swapped) transposeInto(scratch.data(), ci, n, rows, hasBias);
  }
  activate(c.data, batch * m * n, activation, alpha);
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// biasActPool(z, bias | null, pooled, batch, height, width, channels, alpha)
// biasActPoolBackward(dpooled, z, bias | null, dz, db | null, batch, height, width, channels, alpha)
//
// y = max(v, alpha v), v = z + bias (per channel; alpha >= 0, 1 for no activation), then a 2x2 max
// pool with stride 2 and no padding ('valid': an odd last row or column is in no window), over NHWC
// z; and the backward pass through the three in one pass: in each window, the first of its four y
// in row-major order that is greater than all before it (from -inf, so NaN never wins: tfjs's and
// TensorFlow's MaxPoolGrad rule) gets dpooled, times the activation's slope there (1 where y > 0,
// else alpha: +0 for alpha 0, as reluBiasBackward's mask); the rest of dz is +0. db (when given):
// the column sums of dz, in float per output row and in double across rows. One pass over z and
// dpooled, where the separate kernels make MaxPoolGrad's full-size gradient (three quarters zeros)
// and pass over it and y again for the slope and the bias sum.

inline float activated(float z, float bias, float alpha) {
  const float v = z + bias;
  return v > 0.0f ? v : v * alpha;
}

// The maximum of a window's four values from -inf, each kept only where greater (NaN never wins).
inline float windowMax(float a, float b, float c, float e) {
  float m = -INFINITY;
  m = a > m ? a : m;
  m = b > m ? b : m;
  m = c > m ? c : m;
  return e > m ? e : m;
}

// One output row of windows: r0, r1 the two input rows under it. bias: C floats (zeros for none).
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) void poolRow(const float *__restrict r0, const float *__restrict r1, const float *__restrict bias, float alpha, float *__restrict out, int64_t ow, int64_t C) {
  for (int64_t j = 0; j < ow; j++) {
    const float *a = r0 + 2 * j * C, *b = a + C, *c = r1 + 2 * j * C, *e = c + C;
    float *o = out + j * C;
    for (int64_t k = 0; k < C; k++) {
      const float ya = activated(a[k], bias[k], alpha), yb = activated(b[k], bias[k], alpha);
      const float yc = activated(c[k], bias[k], alpha), ye = activated(e[k], bias[k], alpha);
      o[k] = windowMax(ya, yb, yc, ye);
    }
  }
}

// The backward pass of one output row of windows, without branches (the vectoriser takes no
// control flow here, && included): the winner is the first of the four equal to their maximum m
// (the same one as the first strict maximum from -inf: a NaN never equals m, and with m still
// -inf there is none); it gets the gradient times the slope at m, the other three +0. g * alpha
// + 0 is g * alpha but for -0, which becomes +0 (so alpha 0 gives +0, as reluBiasBackward's mask).
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) void unpoolRow(const float *__restrict r0, const float *__restrict r1, const float *__restrict bias, float alpha, const float *__restrict dy, float *__restrict d0, float *__restrict d1, float *__restrict acc, int64_t ow, int64_t C) {
  for (int64_t j = 0; j < ow; j++) {
    const int64_t at = 2 * j * C;
    const float *a = r0 + at, *b = a + C, *c = r1 + at, *e = c + C, *g = dy + j * C;
    float *da = d0 + at, *db_ = da + C, *dc = d1 + at, *de = dc + C;
    for (int64_t k = 0; k < C; k++) {
      const float ya = activated(a[k], bias[k], alpha), yb = activated(b[k], bias[k], alpha);
      const float yc = activated(c[k], bias[k], alpha), ye = activated(e[k], bias[k], alpha);
      const float m = windowMax(ya, yb, yc, ye);
      const bool any = m > -INFINITY;
      const bool wa = any & (ya == m), wb = any & !wa & (yb == m), wc = any & !wa & !wb & (yc == m), we = any & !wa & !wb & !wc & (ye == m);
      const float v = m > 0.0f ? g[k] : g[k] * alpha + 0.0f;
      da[k] = wa ? v : 0.0f;
      db_[k] = wb ? v : 0.0f;
      dc[k] = wc ? v : 0.0f;
      de[k] = we ? v : 0.0f;
      acc[k] += any ? v : 0.0f;
    }
  }
}

struct PoolShape {
  int64_t n, h, w, c, oh, ow;
  std::string describe() const {
    return "z [" + std::to_string(n) + ", " + std::to_string(h) + ", " + std::to_string(w) + ", " + std::to_string(c) + "], pooled [" + std::to_string(n) + ", " + std::to_string(oh) + ", " + std::to_string(ow) + ", " + std::to_string(c) + "]";
  }
};

PoolShape poolShape(const Napi::CallbackInfo &info, size_t first, const char *kernel) {
  PoolShape s;
  s.n = intArg(info, first, kernel, "batch", 1);
  s.h = intArg(info, first + 1, kernel, "height", 2);
  s.w = intArg(info, first + 2, kernel, "width", 2);
  s.c = intArg(info, first + 3, kernel, "channels", 1);
  s.oh = s.h / 2;
  s.ow = s.w / 2;
  return s;
}

Napi::Value BiasActPool(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const char *kernel = "biasActPool";
  const F32 z = f32Arg(info, 0, kernel, "z"), bias = optionalF32(info, 1, kernel, "bias"), pooled = f32Arg(info, 2, kernel, "pooled");
  const PoolShape s = poolShape(info, 3, kernel);
  const float alpha = alphaArg(info, 7, kernel);
  const std::string shapes = s.describe();
  checkLength(env, kernel, "z", z, s.n * s.h * s.w * s.c, shapes);
  checkLength(env, kernel, "pooled", pooled, s.n * s.oh * s.ow * s.c, shapes);
  if (bias.data) checkLength(env, kernel, "bias", bias, s.c, shapes);
  checkDisjoint(env, kernel, "pooled", pooled, "z", z);
  if (bias.data) checkDisjoint(env, kernel, "pooled", pooled, "bias", bias);
  // No bias: zeros (z + 0 = z, but for the sign of a zero).
  std::vector<float> zeros(bias.data ? 0 : static_cast<size_t>(s.c), 0.0f);
  const float *b0 = bias.data ? bias.data : zeros.data();
  for (int64_t b = 0; b < s.n; b++)
    for (int64_t i = 0; i < s.oh; i++) {
      const float *r0 = z.data + ((b * s.h + 2 * i) * s.w) * s.c;
      poolRow(r0, r0 + s.w * s.c, b0, alpha, pooled.data + ((b * s.oh + i) * s.ow) * s.c, s.ow, s.c);
    }
  return env.Undefined();
}

Napi::Value BiasActPoolBackward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const char *kernel = "biasActPoolBackward";
  const F32 dy = f32Arg(info, 0, kernel, "dpooled"), z = f32Arg(info, 1, kernel, "z"), bias = optionalF32(info, 2, kernel, "bias");
  const F32 dz = f32Arg(info, 3, kernel, "dz"), db = optionalF32(info, 4, kernel, "db");
  const PoolShape s = poolShape(info, 5, kernel);
  const float alpha = alphaArg(info, 9, kernel);
  const std::string shapes = s.describe();
  checkLength(env, kernel, "dpooled", dy, s.n * s.oh * s.ow * s.c, shapes);
  checkLength(env, kernel, "z", z, s.n * s.h * s.w * s.c, shapes);
  checkLength(env, kernel, "dz", dz, s.n * s.h * s.w * s.c, shapes);
  if (bias.data) checkLength(env, kernel, "bias", bias, s.c, shapes);
  if (db.data) checkLength(env, kernel, "db", db, s.c, shapes);
  for (const auto &[name, a] : {std::pair{"dpooled", dy}, {"z", z}, {"bias", bias}}) checkDisjoint(env, kernel, "dz", dz, name, a);
  if (db.data)
    for (const auto &[name, a] : {std::pair{"dpooled", dy}, {"z", z}, {"bias", bias}, {"dz", dz}}) checkDisjoint(env, kernel, "db", db, name, a);
  std::vector<double> total(static_cast<size_t>(s.c), 0.0);
  std::vector<float> row(static_cast<size_t>(s.c));
  std::vector<float> zeros(bias.data ? 0 : static_cast<size_t>(s.c), 0.0f);
  const float *b0 = bias.data ? bias.data : zeros.data();
  const int64_t rowFloats = s.w * s.c;
  for (int64_t b = 0; b < s.n; b++) {
    for (int64_t i = 0; i < s.oh; i++) {
      const int64_t at = ((b * s.h + 2 * i) * s.w) * s.c;
      std::fill(row.begin(), row.end(), 0.0f);
      unpoolRow(z.data + at, z.data + at + rowFloats, b0, alpha, dy.data + ((b * s.oh + i) * s.ow) * s.c, dz.data + at, dz.data + at + rowFloats, row.data(), s.ow, s.c);
      // An odd last column is in no window.
      if (s.w % 2 == 1) {
        std::fill(dz.data + at + rowFloats - s.c, dz.data + at + rowFloats, 0.0f);
        std::fill(dz.data + at + 2 * rowFloats - s.c, dz.data + at + 2 * rowFloats, 0.0f);
      }
      if (db.data)
        for (int64_t c = 0; c < s.c; c++) total[static_cast<size_t>(c)] += row[static_cast<size_t>(c)];
    }
    // Likewise an odd last row.
    if (s.h % 2 == 1) std::fill(dz.data + ((b * s.h + s.h - 1) * s.w) * s.c, dz.data + ((b + 1) * s.h * s.w) * s.c, 0.0f);
  }
  if (db.data)
    for (int64_t c = 0; c < s.c; c++) db.data[c] = static_cast<float>(total[static_cast<size_t>(c)]);
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// adam(p, m, v, g, g2 | null, p1, m1, v1, beta1, 1 - beta1, beta2, 1 - beta2, c1, c2, eps, lr)
// denseAdam(x, dz, rows, p, m, v, p1, m1, v1, beta1, 1 - beta1, beta2, 1 - beta2, c1, c2, eps, lr)
//
// One Adam update of one parameter, the op sequence of common/adam.ts with each op a float32 IEEE
// operation (as the wasm kernel, engine/wasm-adam.ts, and tfjs's ops: the build has no FMA
// contraction and no -ffast-math, so the bits are the same):
//   g' = g (+ g2);  m1 = m * beta1 + g' * (1 - beta1);  v1 = v * beta2 + (g' * g') * (1 - beta2);
//   p1 = p - (m1 / c1) / (sqrt(v1 / c2) + eps) * lr
// Each output is its input (in place: no fresh memory to fault in and no second stream of writes)
// or an array disjoint from every input.
//
// denseAdam takes the gradient of a dense layer's weight [nin, nout] as its factors, dW = x^T dz
// (x [rows, nin], dz [rows, nout]): made by sgemm a block of weight rows at a time into a small
// buffer that stays in cache and applied at once, so the whole dW is never written out and read
// back (16 MB of memory traffic per step for the 64 px classifier's fc1).

struct AdamConstants {
  float b1, a1, b2, a2, c1, c2, eps, lr;
};

// 16 elements through local arrays: the compiler vectorises the fixed-size loops at the clone's
// widest width with no aliasing question (an output may be its input), and the remainder goes
// through the same code one element at a time.
template <int W>
inline void adamChunk(const float *p, const float *m, const float *v, const float *g, const float *g2, float *p1, float *m1, float *v1, const AdamConstants &k) {
  float gg[W], mm[W], vv[W], pp[W];
  for (int i = 0; i < W; i++) gg[i] = g2 ? g[i] + g2[i] : g[i];
  for (int i = 0; i < W; i++) mm[i] = m[i] * k.b1 + gg[i] * k.a1;
  for (int i = 0; i < W; i++) vv[i] = v[i] * k.b2 + (gg[i] * gg[i]) * k.a2;
  for (int i = 0; i < W; i++) pp[i] = p[i] - (mm[i] / k.c1) / (std::sqrt(vv[i] / k.c2) + k.eps) * k.lr;
  for (int i = 0; i < W; i++) m1[i] = mm[i];
  for (int i = 0; i < W; i++) v1[i] = vv[i];
  for (int i = 0; i < W; i++) p1[i] = pp[i];
}

__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) void adamLoop(const float *p, const float *m, const float *v, const float *g, const float *g2, float *p1, float *m1, float *v1, int64_t n, const AdamConstants &k) {
  constexpr int64_t W = 16;
  int64_t i = 0;
  if (g2) {
    for (; i + W <= n; i += W) adamChunk<W>(p + i, m + i, v + i, g + i, g2 + i, p1 + i, m1 + i, v1 + i, k);
  } else {
    for (; i + W <= n; i += W) adamChunk<W>(p + i, m + i, v + i, g + i, nullptr, p1 + i, m1 + i, v1 + i, k);
  }
  for (; i < n; i++) adamChunk<1>(p + i, m + i, v + i, g + i, g2 ? g2 + i : nullptr, p1 + i, m1 + i, v1 + i, k);
}

AdamConstants adamConstants(const Napi::CallbackInfo &info, size_t first, const char *kernel) {
  const char *names[] = {"beta1", "1 - beta1", "beta2", "1 - beta2", "c1", "c2", "eps", "lr"};
  float c[8];
  for (size_t j = 0; j < 8; j++) {
    if (info.Length() <= first + j || !info[first + j].IsNumber()) {
      throw Napi::TypeError::New(info.Env(), std::string(kernel) + ": argument " + std::to_string(first + j) + " ('" + names[j] + "') must be a number");
    }
    c[j] = info[first + j].As<Napi::Number>().FloatValue();
  }
  return {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]};
}

// The outputs are their inputs or disjoint from all inputs (and from each other).
void checkAdamOutputs(Napi::Env env, const char *kernel, const F32 (&outs)[3], const F32 (&state)[3], const std::vector<std::pair<const char *, F32>> &others) {
  const char *outNames[] = {"p1", "m1", "v1"}, *stateNames[] = {"p", "m", "v"};
  for (int o = 0; o < 3; o++) {
    for (int s = 0; s < 3; s++) {
      if (o == s && outs[o].data == state[s].data) continue;
      checkDisjoint(env, kernel, outNames[o], outs[o], stateNames[s], state[s]);
    }
    for (int q = 0; q < o; q++) checkDisjoint(env, kernel, outNames[o], outs[o], outNames[q], outs[q]);
    for (const auto &[name, a] : others) checkDisjoint(env, kernel, outNames[o], outs[o], name, a);
  }
}

Napi::Value Adam(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const char *kernel = "adam";
  const F32 state[3] = {f32Arg(info, 0, kernel, "p"), f32Arg(info, 1, kernel, "m"), f32Arg(info, 2, kernel, "v")};
  const F32 g = f32Arg(info, 3, kernel, "g");
  const F32 g2 = optionalF32(info, 4, kernel, "g2");
  const bool hasG2 = g2.data != nullptr;
  const F32 outs[3] = {f32Arg(info, 5, kernel, "p1"), f32Arg(info, 6, kernel, "m1"), f32Arg(info, 7, kernel, "v1")};
  const AdamConstants k = adamConstants(info, 8, kernel);
  const int64_t n = static_cast<int64_t>(state[0].length);
  const std::string shapes = std::to_string(n) + " values";
  for (const auto &[name, a] : {std::pair{"m", state[1]}, {"v", state[2]}, {"g", g}, {"p1", outs[0]}, {"m1", outs[1]}, {"v1", outs[2]}}) checkLength(env, kernel, name, a, n, shapes);
  if (hasG2) checkLength(env, kernel, "g2", g2, n, shapes);
  std::vector<std::pair<const char *, F32>> others = {{"g", g}};
  if (hasG2) others.push_back({"g2", g2});
  checkAdamOutputs(env, kernel, outs, state, others);
  adamLoop(state[0].data, state[1].data, state[2].data, g.data, hasG2 ? g2.data : nullptr, outs[0].data, outs[1].data, outs[2].data, n, k);
  return env.Undefined();
}

Napi::Value DenseAdam(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const char *kernel = "denseAdam";
  const F32 x = f32Arg(info, 0, kernel, "x"), dz = f32Arg(info, 1, kernel, "dz");
  const int64_t rows = intArg(info, 2, kernel, "rows", 1);
  const F32 state[3] = {f32Arg(info, 3, kernel, "p"), f32Arg(info, 4, kernel, "m"), f32Arg(info, 5, kernel, "v")};
  const F32 outs[3] = {f32Arg(info, 6, kernel, "p1"), f32Arg(info, 7, kernel, "m1"), f32Arg(info, 8, kernel, "v1")};
  const AdamConstants k = adamConstants(info, 9, kernel);
  if (x.length % rows != 0 || dz.length % rows != 0 || x.length == 0 || dz.length == 0) {
    throw Napi::RangeError::New(env, std::string(kernel) + ": 'x' (" + std::to_string(x.length) + " floats) and 'dz' (" + std::to_string(dz.length) + ") must each be a whole, non-empty number of rows of " + std::to_string(rows));
  }
  const int64_t nin = static_cast<int64_t>(x.length) / rows, nout = static_cast<int64_t>(dz.length) / rows;
  const std::string shapes = "x [" + std::to_string(rows) + " x " + std::to_string(nin) + "], dz [" + std::to_string(rows) + " x " + std::to_string(nout) + "]";
  for (const auto &[name, a] : {std::pair{"p", state[0]}, {"m", state[1]}, {"v", state[2]}, {"p1", outs[0]}, {"m1", outs[1]}, {"v1", outs[2]}}) checkLength(env, kernel, name, a, nin * nout, shapes);
  checkAdamOutputs(env, kernel, outs, state, {{"x", x}, {"dz", dz}});
  // 256 weight rows of the 64 px classifier's fc1 (128 wide) are 128 KB of gradient: in L2.
  constexpr int64_t kRows = 256;
  static thread_local std::vector<float> block;
  block.resize(static_cast<size_t>(std::min(kRows, nin) * nout));
  for (int64_t r0 = 0; r0 < nin; r0 += kRows) {
    const int64_t r = std::min(kRows, nin - r0);
    // block [r, nout] = x[:, r0 : r0 + r]^T dz
    dnnl_status_t st = dnnl_sgemm('T', 'N', r, nout, rows, 1.0f, x.data + r0, nin, dz.data, nout, 0.0f, block.data(), nout);
    if (st != dnnl_success) throw Napi::Error::New(env, "oneDNN sgemm failed in denseAdam (" + shapes + "): dnnl_status " + std::to_string(static_cast<int>(st)));
    const int64_t at = r0 * nout;
    adamLoop(state[0].data + at, state[1].data + at, state[2].data + at, block.data(), nullptr, outs[0].data + at, outs[1].data + at, outs[2].data + at, r * nout, k);
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------

Napi::Value SetThreads(const Napi::CallbackInfo &info) {
  const int64_t n = intArg(info, 0, "setThreads", "n", 1);
  if (n != omp_get_max_threads()) {
    // Primitives are laid out for the team size they were created with.
    convCache.clear();
    omp_set_num_threads(static_cast<int>(n));
  }
  return info.Env().Undefined();
}

const char *isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::all: return "all";
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    default: return "unknown";
  }
}

Napi::Value Info(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const dnnl_version_t *v = dnnl_version();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  o.Set("commit", std::string(v->hash ? v->hash : ""));
  o.Set("isa", isaName(dnnl::get_effective_cpu_isa()));
  o.Set("threads", omp_get_max_threads());
  Napi::Array prims = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto &[key, entry] : convCache) {
    ConvGeom g;
    const auto &k = key.second;
    g = ConvGeom{k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10], k[11], k[12], k[13], k[14]};
    Napi::Object p = Napi::Object::New(env);
    p.Set("kernel", kindName(static_cast<ConvKind>(key.first)));
    Fusion f;
    f.bias = k[15] != 0, f.act = k[16] != 0;
    const uint32_t bits = static_cast<uint32_t>(k[17]);
    std::memcpy(&f.alpha, &bits, sizeof bits);
    p.Set("geometry", g.describe() + f.describe());
    p.Set("impl", entry->impl);
    p.Set("weightsReorder", entry->reorderW);
    prims.Set(i++, p);
  }
  o.Set("primitives", prims);
  return o;
}

Napi::Value ClearCache(const Napi::CallbackInfo &info) {
  convCache.clear();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // One thread until told otherwise: each trainer owns one core, and OpenMP would otherwise start a
  // team as large as the machine.
  omp_set_num_threads(1);
  exports.Set("conv2d", Napi::Function::New(env, Conv2d, "conv2d"));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Conv2dBackwardData, "conv2dBackwardData"));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, Conv2dBackwardWeights, "conv2dBackwardWeights"));
  exports.Set("conv2dFused", Napi::Function::New(env, Conv2dFused, "conv2dFused"));
  exports.Set("reluBiasBackward", Napi::Function::New(env, ReluBiasBackward, "reluBiasBackward"));
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("biasActPool", Napi::Function::New(env, BiasActPool, "biasActPool"));
  exports.Set("biasActPoolBackward", Napi::Function::New(env, BiasActPoolBackward, "biasActPoolBackward"));
  exports.Set("adam", Napi::Function::New(env, Adam, "adam"));
  exports.Set("denseAdam", Napi::Function::New(env, DenseAdam, "denseAdam"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache, "clearCache"));
  return exports;
}

}  // namespace

NODE_API_MODULE(gan_study_native, Init)
