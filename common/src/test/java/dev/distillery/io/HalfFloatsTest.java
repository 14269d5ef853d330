package dev.distillery.io;

import static dev.distillery.io.HalfFloats.bf16ToFloat;
import static dev.distillery.io.HalfFloats.f16ToFloat;
import static dev.distillery.io.HalfFloats.floatToBf16;
import static dev.distillery.io.HalfFloats.floatToF16;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class HalfFloatsTest {

  private static float bits(int b) {
    return Float.intBitsToFloat(b);
  }

  @Test
  void bf16RoundsToNearestEven() {
    assertThat(floatToBf16(1.0f)).isEqualTo((short) 0x3f80);
    assertThat(floatToBf16(bits(0x3f808000))).as("tie, even below").isEqualTo((short) 0x3f80);
    assertThat(floatToBf16(bits(0x3f818000))).as("tie, odd below").isEqualTo((short) 0x3f82);
    assertThat(floatToBf16(bits(0x3f808001))).as("above half").isEqualTo((short) 0x3f81);
    assertThat(floatToBf16(bits(0x3f807fff))).as("below half").isEqualTo((short) 0x3f80);
    assertThat(floatToBf16(-0.0f)).isEqualTo((short) 0x8000);
    assertThat(floatToBf16(Float.MAX_VALUE)).as("overflow").isEqualTo((short) 0x7f80);
    assertThat(floatToBf16(Float.NEGATIVE_INFINITY)).isEqualTo((short) 0xff80);
    assertThat(floatToBf16(bits(0x00000001))).as("smallest subnormal").isEqualTo((short) 0x0000);
  }

  @Test
  void bf16KeepsNaN() {
    assertThat(floatToBf16(bits(0x7fc00000))).isEqualTo((short) 0x7fc0);
    assertThat(floatToBf16(bits(0xff800001))).as("signalling NaN with low payload").isEqualTo((short) 0xffc0);
    assertThat(Float.isNaN(bf16ToFloat(floatToBf16(bits(0x7f800001))))).isTrue();
  }

  @Test
  void bf16ToFloatIsExact() {
    assertThat(bf16ToFloat((short) 0x4049)).isEqualTo(3.140625f);
    assertThat(bf16ToFloat((short) 0xc000)).isEqualTo(-2.0f);
  }

  @Test
  void everyBf16ValueRoundTrips() {
    for (int h = 0; h < 0x10000; h++) {
      float f = bf16ToFloat((short) h);
      if (!Float.isNaN(f)) {
        assertThat(floatToBf16(f) & 0xffff).as("bf16 %04x", h).isEqualTo(h);
      }
    }
  }

  @Test
  void f16RoundsNormalsToNearestEven() {
    assertThat(floatToF16(1.0f)).isEqualTo((short) 0x3c00);
    assertThat(floatToF16(-2.0f)).isEqualTo((short) 0xc000);
    assertThat(floatToF16(1.0f / 3)).isEqualTo((short) 0x3555);
    assertThat(floatToF16(65504f)).as("largest half").isEqualTo((short) 0x7bff);
    assertThat(floatToF16(65519f)).as("below the tie rounds down").isEqualTo((short) 0x7bff);
    assertThat(floatToF16(65520f)).as("tie with odd mantissa overflows").isEqualTo((short) 0x7c00);
    assertThat(floatToF16(bits(0x3f801000))).as("tie, even below").isEqualTo((short) 0x3c00);
    assertThat(floatToF16(bits(0x3f803000))).as("tie, odd below").isEqualTo((short) 0x3c02);
    assertThat(floatToF16(1e10f)).isEqualTo((short) 0x7c00);
  }

  @Test
  void f16HandlesSubnormals() {
    assertThat(floatToF16(0x1p-14f)).as("smallest normal").isEqualTo((short) 0x0400);
    assertThat(floatToF16(0x1p-24f)).as("smallest subnormal").isEqualTo((short) 0x0001);
    assertThat(floatToF16(1023 * 0x1p-24f)).as("largest subnormal").isEqualTo((short) 0x03ff);
    assertThat(floatToF16(0x1p-25f)).as("half the smallest, tie to even zero").isEqualTo((short) 0x0000);
    assertThat(floatToF16(1.5f * 0x1p-25f)).isEqualTo((short) 0x0001);
    assertThat(floatToF16(3 * 0x1p-25f)).as("1.5 subnormal steps, tie to even").isEqualTo((short) 0x0002);
    assertThat(floatToF16(-0x1p-30f)).isEqualTo((short) 0x8000);
    assertThat(floatToF16(bits(0x00000001))).isEqualTo((short) 0x0000);
    assertThat(floatToF16(bits(0x387fe000))).as("rounds up into the smallest normal").isEqualTo((short) 0x0400);
  }

  @Test
  void f16HandlesInfinityAndNaN() {
    assertThat(floatToF16(Float.POSITIVE_INFINITY)).isEqualTo((short) 0x7c00);
    assertThat(floatToF16(Float.NEGATIVE_INFINITY)).isEqualTo((short) 0xfc00);
    assertThat(Float.isNaN(f16ToFloat(floatToF16(Float.NaN)))).isTrue();
    assertThat(Float.isNaN(f16ToFloat(floatToF16(bits(0x7f800001))))).as("low payload NaN").isTrue();
    assertThat(f16ToFloat((short) 0x7c00)).isEqualTo(Float.POSITIVE_INFINITY);
  }

  @Test
  void f16ToFloatIsExact() {
    assertThat(f16ToFloat((short) 0x3555)).isEqualTo(0.333251953125f);
    assertThat(f16ToFloat((short) 0x0001)).isEqualTo(0x1p-24f);
    assertThat(f16ToFloat((short) 0x8001)).isEqualTo(-0x1p-24f);
    assertThat(f16ToFloat((short) 0x7bff)).isEqualTo(65504f);
  }

  @Test
  void everyF16ValueRoundTrips() {
    for (int h = 0; h < 0x10000; h++) {
      float f = f16ToFloat((short) h);
      if (!Float.isNaN(f)) {
        assertThat(floatToF16(f) & 0xffff).as("f16 %04x", h).isEqualTo(h);
      }
    }
  }

  @Test
  void f16RoundingMatchesDoubleArithmetic() {
    java.util.SplittableRandom random = new java.util.SplittableRandom(7);
    for (int i = 0; i < 200_000; i++) {
      float f = bits(random.nextInt(0x3f800000, 0x477fe000)) * (random.nextBoolean() ? 1 : 0x1p-20f);
      float rounded = f16ToFloat(floatToF16(f));
      float below = f16ToFloat((short) (floatToF16(f) - 1));
      float above = f16ToFloat((short) (floatToF16(f) + 1));
      assertThat(Math.abs((double) rounded - f)).as("%s", f)
          .isLessThanOrEqualTo(Math.abs((double) below - f))
          .isLessThanOrEqualTo(Math.abs((double) above - f));
    }
  }
}
