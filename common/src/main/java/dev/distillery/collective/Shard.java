package dev.distillery.collective;

/**
 * The floats {@code [from, to)} of a buffer that one participant of a sharded reduction owns: after a
 * reduce-scatter they hold the sum over all participants, and an all-gather copies them to everyone.
 */
public record Shard(int from, int to) {
  public Shard {
    if (from < 0 || to < from) {
      throw new IllegalArgumentException("bad shard [" + from + ", " + to + ")");
    }
  }

  /** Part {@code index} of {@code parts} of {@code [0, length)}, the parts differing in size by at most one. */
  public static Shard part(int length, int index, int parts) {
    return new Shard(0, length).part(index, parts);
  }

  /** Part {@code index} of {@code parts} of this shard, in the same way. */
  public Shard part(int index, int parts) {
    int n = length();
    return new Shard(from + (int) ((long) n * index / parts), from + (int) ((long) n * (index + 1) / parts));
  }

  public int length() {
    return to - from;
  }
}
