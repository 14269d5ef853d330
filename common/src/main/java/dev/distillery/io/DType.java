package dev.distillery.io;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/**
 * The element types of the safetensors format, by their header names. F32, F16 and BF16 convert to and
 * from {@code float}; the others are known so that headers validate, but cannot be read as floats.
 * Buffers passed to {@link #decode} and {@link #encode} must be little-endian.
 */
public enum DType {
  F64(8, false),
  F32(4, true),
  F16(2, true),
  BF16(2, true),
  I64(8, false),
  I32(4, false),
  I16(2, false),
  I8(1, false),
  U8(1, false),
  BOOL(1, false);

  private final int byteSize;
  private final boolean floatConvertible;

  DType(int byteSize, boolean floatConvertible) {
    this.byteSize = byteSize;
    this.floatConvertible = floatConvertible;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /** Whether {@link #decode} and {@link #encode} support this type. */
  public boolean isFloatConvertible() {
    return floatConvertible;
  }

  /** The dtype with this safetensors header name (e.g. {@code "BF16"}), if it is one. */
  public static Optional<DType> fromHeaderName(String name) {
    return Arrays.stream(values()).filter(d -> d.name().equals(name)).findFirst();
  }

  /** The dtype for a {@code torch_dtype} string of config.json ({@code float32}, {@code float16}, {@code bfloat16}). */
  public static DType fromTorchDtype(String torchDtype) {
    return switch (torchDtype.toLowerCase(Locale.ROOT)) {
      case "float32" -> F32;
      case "float16" -> F16;
      case "bfloat16" -> BF16;
      default -> throw new IllegalArgumentException("Unsupported torch_dtype '" + torchDtype
          + "', expected float32, float16 or bfloat16");
    };
  }

  /** The config.json {@code torch_dtype} string of a float dtype. */
  public String torchDtype() {
    return switch (this) {
      case F32 -> "float32";
      case F16 -> "float16";
      case BF16 -> "bfloat16";
      default -> throw unsupported();
    };
  }

  /** Reads {@code count} elements from {@code src} (little-endian) into {@code dst[offset..]}. */
  public void decode(ByteBuffer src, float[] dst, int offset, int count) {
    switch (this) {
      case F32 -> src.asFloatBuffer().get(dst, offset, count);
      case F16 -> {
        for (int i = 0; i < count; i++) {
          dst[offset + i] = HalfFloats.f16ToFloat(src.getShort(src.position() + 2 * i));
        }
      }
      case BF16 -> {
        for (int i = 0; i < count; i++) {
          dst[offset + i] = HalfFloats.bf16ToFloat(src.getShort(src.position() + 2 * i));
        }
      }
      default -> throw unsupported();
    }
    src.position(src.position() + count * byteSize);
  }

  /** Writes {@code count} elements of {@code src[offset..]} into {@code dst} (little-endian), rounding to nearest even. */
  public void encode(float[] src, int offset, int count, ByteBuffer dst) {
    switch (this) {
      case F32 -> dst.asFloatBuffer().put(src, offset, count);
      case F16 -> {
        for (int i = 0; i < count; i++) {
          dst.putShort(dst.position() + 2 * i, HalfFloats.floatToF16(src[offset + i]));
        }
      }
      case BF16 -> {
        for (int i = 0; i < count; i++) {
          dst.putShort(dst.position() + 2 * i, HalfFloats.floatToBf16(src[offset + i]));
        }
      }
      default -> throw unsupported();
    }
    dst.position(dst.position() + count * byteSize);
  }

  private UnsupportedOperationException unsupported() {
    return new UnsupportedOperationException("dtype " + this + " cannot be converted to or from float; "
        + "only F32, F16 and BF16 can");
  }
}
