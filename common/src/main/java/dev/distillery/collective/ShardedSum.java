package dev.distillery.collective;

/**
 * A sum across participants split into its two halves, for state that each participant keeps only a shard of:
 * reduce-scatter (each participant gets the sum of its own shard) and all-gather (each shard reaches everyone).
 * {@link RingAllReduce} is one across processes, {@link LocalReducer} one across a process's devices.
 */
public interface ShardedSum {
  /** The floats of a buffer of {@code length} that this participant owns, a different part for each. */
  Shard shard(int length);

  /** Afterwards {@link #shard}{@code (data.length())} of {@code data} holds the sum over all participants. */
  void reduceScatterSum(DirectFloats data);

  /** Copies every participant's {@link #shard} of {@code data} into the same floats of everyone's. */
  void allGather(DirectFloats data);
}
