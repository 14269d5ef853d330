package dev.distillery.importance;

import dev.distillery.model.LlamaConfig;

/**
 * Where importance scores came from.
 *
 * @param method {@code activations} (calibration forward passes) or {@code weights} (weight magnitudes)
 * @param teacherPath the teacher checkpoint directory
 * @param teacherSha256 fingerprint of the teacher's config and tensor headers
 * @param teacher the teacher's config
 * @param samples calibration sequences (0 for weights)
 * @param tokens calibration tokens (0 for weights)
 * @param sequenceAggregation aggregation over each sequence, or null for weights
 * @param batchAggregation aggregation over samples, or null for weights
 */
public record CalibrationInfo(String method, String teacherPath, String teacherSha256, LlamaConfig teacher,
    long samples, long tokens, Aggregation sequenceAggregation, Aggregation batchAggregation) {
  public static final String ACTIVATIONS = "activations";
  public static final String WEIGHTS = "weights";
}
