package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** Inverse frequencies checked against values worked out by hand from the llama3 rules (no DJL involved). */
class RotaryEmbeddingTest {

  @Test
  void plainRopeIsThetaToTheMinusTwoIOverD() {
    float[] inv = RotaryEmbedding.inverseFrequencies(8, 500000.0, null);
    assertThat(inv).hasSize(4);
    assertThat(inv[0]).isEqualTo(1.0f);
    // 500000^(-6/8)
    assertThat((double) inv[3]).isCloseTo(5.318295896944988e-05, within(1e-11));
  }

  @Test
  void llama3ScalingKeepsShortBlendsMiddleAndSlowsLongWavelengths() {
    float[] inv = RotaryEmbedding.inverseFrequencies(TestModels.gqaConfig());
    // head_dim 16, theta 1e4, factor 8, low 1, high 4, original context 32: bands at wavelengths 8 and 32.
    // i=0: 1, wavelength 2π < 8, kept.
    assertThat(inv[0]).isEqualTo(1.0f);
    // i=1: 1e4^(-1/8) = 0.316228, wavelength 19.87; smooth = (32/19.87 - 1)/3 = 0.203512;
    // (1 - smooth)·inv/8 + smooth·inv = 0.0958400.
    assertThat((double) inv[1]).isCloseTo(0.09583998588296266, within(1e-7));
    // i=2: 1e4^(-1/4) = 0.1, wavelength 62.8 > 32, divided by 8.
    assertThat((double) inv[2]).isCloseTo(0.0125, within(1e-9));
  }

  @Test
  void llama31ShapesHitAllThreeBands() {
    float[] inv = RotaryEmbedding.inverseFrequencies(LlamaConfig.llama31_8b());
    assertThat(inv).hasSize(64);
    // i=20: 5e5^(-40/128) = 0.0165604, wavelength 379 < 8192/4: kept.
    assertThat((double) inv[20]).isCloseTo(0.016560440080994446, within(1e-9));
    // i=30: 5e5^(-60/128) = 0.00213112, wavelength 2948 between 2048 and 8192: smooth 0.592849 → 0.00137189.
    assertThat((double) inv[30]).isCloseTo(0.0013718935677611381, within(1e-9));
    // i=63: wavelength 2.56e6 > 8192: 5e5^(-126/128) / 8.
    assertThat((double) inv[63]).isCloseTo(3.068925988914511e-07, within(1e-12));
  }
}
