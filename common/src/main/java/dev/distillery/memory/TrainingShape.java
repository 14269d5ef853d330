package dev.distillery.memory;

import dev.distillery.model.LlamaConfig;

/**
 * What one training replica (one device of one rank) runs, as far as memory is concerned: the models' shapes and the
 * distill settings that size the activations, the loss chunk and the optimizer state. The student trains in float32.
 *
 * @param student the student's configuration
 * @param teacher the teacher's configuration, or null when the loss needs no teacher (cross-entropy)
 * @param teacherBytes bytes per teacher parameter (2 for float16, 4 for float32)
 * @param microBatch sequences per forward/backward on one device
 * @param microBatches micro-batches one replica runs per step (sharded gradients reduce once per micro-batch)
 * @param rowTokens tokens per sequence the model runs on (packed rows: seq-length + 1)
 * @param chunkTokens tokens per loss chunk
 * @param queryBlock queries per attention block
 * @param recompute layer recomputation on
 * @param crossEntropy the loss has a cross-entropy term
 * @param shardedOptimizer each replica keeps only its 1/replicas share of the optimizer moments
 * @param shardedGradients each replica keeps only its share of the summed gradients, reduced stage by stage during
 *     the recomputed backward (ZeRO stage 2; needs {@code shardedOptimizer} and {@code recompute})
 * @param ranks ranks in the ring (world-size)
 * @param replicas replicas over the whole job (ranks × devices per rank)
 * @param gpu the device is a GPU (reduced gradients are copied onto it) rather than the CPU (the process, where
 *     the reduced gradients are views of the host buckets)
 */
public record TrainingShape(LlamaConfig student, LlamaConfig teacher, int teacherBytes, int microBatch,
    int microBatches, int rowTokens, int chunkTokens, int queryBlock, boolean recompute, boolean crossEntropy,
    boolean shardedOptimizer, boolean shardedGradients, int ranks, int replicas, boolean gpu) {

  public TrainingShape {
    if (shardedGradients && !(shardedOptimizer && recompute)) {
      throw new IllegalArgumentException("sharded gradients need the optimizer sharded and layers recomputed");
    }
    if (microBatch < 1 || microBatches < 1 || rowTokens < 2 || chunkTokens < 1 || queryBlock < 1 || ranks < 1 || replicas < ranks) {
      throw new IllegalArgumentException("micro-batch, tokens, chunk, query block and ranks must be positive, "
          + "replicas at least the ranks");
    }
    if (teacher != null && teacherBytes != 2 && teacherBytes != 4) {
      throw new IllegalArgumentException("teacher bytes per parameter must be 2 or 4, got " + teacherBytes);
    }
  }

  /**
   * This shape with the optimizer sharded or not, the gradients sharded or not (only with both others) and layers
   * recomputed or not.
   */
  public TrainingShape with(boolean sharded, boolean gradientsSharded, boolean recomputed) {
    return new TrainingShape(student, teacher, teacherBytes, microBatch, microBatches, rowTokens, chunkTokens,
        queryBlock, recomputed, crossEntropy, sharded, gradientsSharded, ranks, replicas, gpu);
  }

  /** Whether the loss needs teacher logits (KD). */
  public boolean distils() {
    return teacher != null;
  }

  /** Tokens in one micro-batch. */
  long tokens() {
    return (long) microBatch * rowTokens;
  }
}
