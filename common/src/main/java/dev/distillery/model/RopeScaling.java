package dev.distillery.model;

/**
 * The {@code rope_scaling} block of a Llama 3.1 {@code config.json} ({@code rope_type: llama3}).
 *
 * <p>Frequencies whose wavelength is longer than {@code originalMaxPositionEmbeddings / lowFreqFactor}
 * are divided by {@code factor}; those shorter than {@code originalMaxPositionEmbeddings / highFreqFactor}
 * are kept; the band in between is interpolated smoothly.
 */
public record RopeScaling(
    double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {

  /** The values Meta-Llama-3.1 ships with. */
  public static RopeScaling llama31() {
    return new RopeScaling(8.0, 1.0, 4.0, 8192);
  }
}
