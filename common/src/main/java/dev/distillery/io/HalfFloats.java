package dev.distillery.io;

/**
 * Bit-exact conversions between {@code float} and the 16-bit formats bfloat16 and IEEE binary16, in plain
 * Java (JDK 17 has no {@code Float.floatToFloat16}). Narrowing rounds to nearest, ties to even; NaN stays
 * NaN (sign and top payload bits kept, quiet bit set); overflow becomes infinity.
 */
public final class HalfFloats {
  private HalfFloats() {}

  /** The bfloat16 bits nearest to {@code value}. */
  public static short floatToBf16(float value) {
    int bits = Float.floatToRawIntBits(value);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) ((bits >>> 16) | 0x0040);
    }
    int roundingBias = 0x7fff + ((bits >>> 16) & 1);
    return (short) ((bits + roundingBias) >>> 16);
  }

  /** The float a bfloat16 value denotes (exact). */
  public static float bf16ToFloat(short bf16) {
    return Float.intBitsToFloat((bf16 & 0xffff) << 16);
  }

  /** The IEEE binary16 bits nearest to {@code value}, with subnormals. */
  public static short floatToF16(float value) {
    int bits = Float.floatToRawIntBits(value);
    int sign = (bits >>> 16) & 0x8000;
    int exponent = (bits >>> 23) & 0xff;
    int mantissa = bits & 0x7fffff;
    if (exponent == 0xff) {
      if (mantissa == 0) {
        return (short) (sign | 0x7c00);
      }
      return (short) (sign | 0x7c00 | 0x0200 | (mantissa >>> 13));
    }
    int halfExponent = exponent - 127 + 15;
    if (halfExponent >= 0x1f) {
      return (short) (sign | 0x7c00);
    }
    if (halfExponent > 0) {
      int result = (halfExponent << 10) | (mantissa >>> 13);
      return (short) (sign | roundToNearestEven(result, mantissa & 0x1fff, 13));
    }
    int shift = 14 - halfExponent;
    if (shift > 24) {
      return (short) sign;
    }
    int significand = mantissa | 0x800000;
    int result = significand >>> shift;
    return (short) (sign | roundToNearestEven(result, significand & ((1 << shift) - 1), shift));
  }

  private static int roundToNearestEven(int truncated, int droppedBits, int droppedCount) {
    int half = 1 << (droppedCount - 1);
    if (droppedBits > half || (droppedBits == half && (truncated & 1) != 0)) {
      return truncated + 1;
    }
    return truncated;
  }

  /** The float an IEEE binary16 value denotes (exact). */
  public static float f16ToFloat(short f16) {
    int bits = f16 & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
    }
    if (exponent == 0) {
      float magnitude = mantissa * 0x1p-24f;
      return sign != 0 ? -magnitude : magnitude;
    }
    return Float.intBitsToFloat(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
  }
}
