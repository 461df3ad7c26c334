// GGUF type names, sizes, metadata value conversions and dequantization.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/common/error.hpp"
#include "runtime/common/half.hpp"
#include "runtime/gguf/gguf.hpp"

namespace folio::gguf {

const char* value_type_name(ValueType t) noexcept {
  switch (t) {
    case ValueType::u8: return "u8";
    case ValueType::i8: return "i8";
    case ValueType::u16: return "u16";
    case ValueType::i16: return "i16";
    case ValueType::u32: return "u32";
    case ValueType::i32: return "i32";
    case ValueType::f32: return "f32";
    case ValueType::boolean: return "bool";
    case ValueType::string: return "string";
    case ValueType::array: return "array";
    case ValueType::u64: return "u64";
    case ValueType::i64: return "i64";
    case ValueType::f64: return "f64";
  }
  return "unknown";
}

std::string tensor_type_name(uint32_t ggml_type) {
  // ggml's type numbering (ggml.h); gaps are types ggml removed.
  static constexpr const char* kNames[] = {
      "f32",     "f16",    "q4_0",    "q4_1",   nullptr,  nullptr, "q5_0",   "q5_1",   "q8_0",    "q8_1",
      "q2_K",    "q3_K",   "q4_K",    "q5_K",   "q6_K",   "q8_K",  "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s",
      "iq4_nl",  "iq3_s",  "iq2_s",   "iq4_xs", "i8",     "i16",   "i32",    "i64",    "f64",     "iq1_m",
      "bf16",    nullptr,  nullptr,   nullptr,  "tq1_0",  "tq2_0", nullptr,  nullptr,  nullptr,   "mxfp4",
  };
  if (ggml_type < std::size(kNames) && kNames[ggml_type]) return kNames[ggml_type];
  return "type " + std::to_string(ggml_type);
}

bool tensor_type_supported(uint32_t ggml_type) noexcept {
  switch (TensorType(ggml_type)) {
    case TensorType::f32:
    case TensorType::f16:
    case TensorType::q8_0:
    case TensorType::bf16: return true;
  }
  return false;
}

size_t tensor_bytes(TensorType t, uint64_t n_elements) {
  uint64_t bytes = 0;
  bool overflow = false;
  switch (t) {
    case TensorType::f32: overflow = __builtin_mul_overflow(n_elements, uint64_t(4), &bytes); break;
    case TensorType::f16:
    case TensorType::bf16: overflow = __builtin_mul_overflow(n_elements, uint64_t(2), &bytes); break;
    case TensorType::q8_0:
      if (n_elements % kQ8BlockElems != 0)
        fail(Errc::invalid_argument, "q8_0 tensor of " + std::to_string(n_elements) +
                                         " elements: not a multiple of the block size 32");
      overflow = __builtin_mul_overflow(n_elements / kQ8BlockElems, uint64_t(kQ8BlockBytes), &bytes);
      break;
    default: fail(Errc::unsupported, "tensor type " + tensor_type_name(uint32_t(t)) + " is not supported");
  }
  if (overflow || bytes > std::numeric_limits<size_t>::max())
    fail(Errc::invalid_argument, "tensor of " + std::to_string(n_elements) + " elements: byte size overflows");
  return size_t(bytes);
}

// ---- Value conversions ---------------------------------------------------------

namespace {

[[noreturn]] void value_error(std::string_view what, const std::string& problem) {
  fail(Errc::format, std::string(what) + ": " + problem);
}

}  // namespace

uint64_t Value::as_u64(std::string_view what) const {
  switch (type) {
    case ValueType::u8: return std::get<uint8_t>(data);
    case ValueType::u16: return std::get<uint16_t>(data);
    case ValueType::u32: return std::get<uint32_t>(data);
    case ValueType::u64: return std::get<uint64_t>(data);
    case ValueType::i8:
    case ValueType::i16:
    case ValueType::i32:
    case ValueType::i64: {
      const int64_t v = as_i64(what);
      if (v < 0) value_error(what, "negative value " + std::to_string(v) + " where an unsigned integer is expected");
      return uint64_t(v);
    }
    default: value_error(what, std::string("expected an integer, found ") + value_type_name(type));
  }
}

int64_t Value::as_i64(std::string_view what) const {
  switch (type) {
    case ValueType::i8: return std::get<int8_t>(data);
    case ValueType::i16: return std::get<int16_t>(data);
    case ValueType::i32: return std::get<int32_t>(data);
    case ValueType::i64: return std::get<int64_t>(data);
    case ValueType::u8:
    case ValueType::u16:
    case ValueType::u32:
    case ValueType::u64: {
      const uint64_t v = as_u64(what);
      if (v > uint64_t(std::numeric_limits<int64_t>::max()))
        value_error(what, "value " + std::to_string(v) + " does not fit a signed 64-bit integer");
      return int64_t(v);
    }
    default: value_error(what, std::string("expected an integer, found ") + value_type_name(type));
  }
}

double Value::as_f64(std::string_view what) const {
  switch (type) {
    case ValueType::f32: return std::get<float>(data);
    case ValueType::f64: return std::get<double>(data);
    case ValueType::u8:
    case ValueType::u16:
    case ValueType::u32:
    case ValueType::u64: return double(as_u64(what));
    case ValueType::i8:
    case ValueType::i16:
    case ValueType::i32:
    case ValueType::i64: return double(as_i64(what));
    default: value_error(what, std::string("expected a number, found ") + value_type_name(type));
  }
}

bool Value::as_bool(std::string_view what) const {
  if (type != ValueType::boolean) value_error(what, std::string("expected a bool, found ") + value_type_name(type));
  return std::get<bool>(data);
}

const std::string& Value::as_string(std::string_view what) const {
  if (type != ValueType::string) value_error(what, std::string("expected a string, found ") + value_type_name(type));
  return std::get<std::string>(data);
}

const Array& Value::as_array(std::string_view what) const {
  if (type != ValueType::array) value_error(what, std::string("expected an array, found ") + value_type_name(type));
  return *std::get<std::shared_ptr<Array>>(data);
}

// ---- dequantization -------------------------------------------------------------

void dequantize_row(const TensorInfo& t, uint64_t first, std::span<float> out) {
  const uint64_t n = out.size();
  if (first > t.n_elements || n > t.n_elements - first)
    fail(Errc::invalid_argument, "tensor '" + t.name + "': elements [" + std::to_string(first) + ", " +
                                     std::to_string(first + n) + ") out of range (" + std::to_string(t.n_elements) +
                                     " elements)");
  const std::byte* src = t.data.data();
  switch (t.type) {
    case TensorType::f32:
      if (n) std::memcpy(out.data(), src + first * 4, n * 4);
      return;
    case TensorType::f16:
      for (uint64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + (first + i) * 2, 2);
        out[i] = f16_to_f32(h);
      }
      return;
    case TensorType::bf16:
      for (uint64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + (first + i) * 2, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
    case TensorType::q8_0: {
      if (first % kQ8BlockElems || n % kQ8BlockElems)
        fail(Errc::invalid_argument, "tensor '" + t.name + "': q8_0 rows must start and end on 32-element blocks");
      const std::byte* block = src + first / kQ8BlockElems * kQ8BlockBytes;
      for (uint64_t b = 0; b < n / kQ8BlockElems; ++b, block += kQ8BlockBytes) {
        uint16_t d16;
        std::memcpy(&d16, block, 2);
        const float d = f16_to_f32(d16);
        const auto* q = reinterpret_cast<const int8_t*>(block + 2);
        float* dst = out.data() + b * kQ8BlockElems;
        for (size_t j = 0; j < kQ8BlockElems; ++j) dst[j] = d * float(q[j]);
      }
      return;
    }
  }
  fail(Errc::unsupported, "tensor '" + t.name + "': type " + tensor_type_name(uint32_t(t.type)) + " cannot be dequantized");
}

void quantize_row(TensorType type, std::span<const float> in, std::span<std::byte> out) {
  const size_t need = tensor_bytes(type, in.size());
  if (out.size() != need)
    fail(Errc::invalid_argument, "quantize_row: output holds " + std::to_string(out.size()) + " bytes, " +
                                     std::to_string(need) + " needed");
  switch (type) {
    case TensorType::f32:
      if (!in.empty()) std::memcpy(out.data(), in.data(), need);
      return;
    case TensorType::f16:
      for (size_t i = 0; i < in.size(); ++i) {
        const uint16_t h = f32_to_f16(in[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      return;
    case TensorType::bf16:
      for (size_t i = 0; i < in.size(); ++i) {
        const uint16_t h = f32_to_bf16(in[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      return;
    case TensorType::q8_0:
      for (size_t b = 0; b < in.size() / kQ8BlockElems; ++b) {
        const float* x = in.data() + b * kQ8BlockElems;
        float amax = 0;
        for (size_t j = 0; j < kQ8BlockElems; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        std::byte* block = out.data() + b * kQ8BlockBytes;
        const uint16_t d16 = f32_to_f16(d);
        std::memcpy(block, &d16, 2);
        for (size_t j = 0; j < kQ8BlockElems; ++j) {
          const auto q = int8_t(std::lround(x[j] * id));
          std::memcpy(block + 2 + j, &q, 1);
        }
      }
      return;
  }
  fail(Errc::unsupported, "quantize_row: unsupported type " + tensor_type_name(uint32_t(type)));
}

}  // namespace folio::gguf
