package dev.distillery.distill;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.distillery.collective.DirectFloats;
import dev.distillery.model.LlamaTensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The host buffers gradient buckets are copied into for the ring, kept across steps: one per bucket where the
 * reduced gradients stay views of their bucket until the step ends (the whole optimizer on the CPU), else one
 * buffer of the largest bucket that every bucket reuses in turn.
 */
public final class GradientBuckets {
  /** Gradients are reduced in buckets of at most this many floats (64 MB), unless one parameter is larger. */
  public static final int BUCKET_FLOATS = 16 << 20;

  private final boolean onePerBucket;
  private final List<DirectFloats> buffers = new ArrayList<>();

  GradientBuckets(boolean onePerBucket) {
    this.onePerBucket = onePerBucket;
  }

  /**
   * The gradient buckets of parameters of these sizes (elements by name, in the model's order): consecutive
   * parameters up to {@link #BUCKET_FLOATS} (a larger one alone), never spanning two stages of the backward pass
   * ({@link LlamaTensors#stageOf}), so that sharded gradients reduce each stage's buckets alone. Each bucket's names.
   */
  public static List<List<String>> layout(Map<String, Long> sizes) {
    List<List<String>> buckets = new ArrayList<>();
    List<String> bucket = new ArrayList<>();
    long bucketSize = 0;
    String stage = null;
    for (Map.Entry<String, Long> p : sizes.entrySet()) {
      String next = LlamaTensors.stageOf(p.getKey());
      boolean newStage = !next.equals(stage);
      stage = next;
      if (!bucket.isEmpty() && (newStage || bucketSize + p.getValue() > BUCKET_FLOATS)) {
        buckets.add(bucket);
        bucket = new ArrayList<>();
        bucketSize = 0;
      }
      bucket.add(p.getKey());
      bucketSize += p.getValue();
    }
    buckets.add(bucket);
    return buckets;
  }

  /** The buffer of bucket {@code index}, at least {@code floats} long. */
  DirectFloats buffer(int index, long floats) {
    int slot = onePerBucket ? index : 0;
    while (buffers.size() <= slot) {
      buffers.add(null);
    }
    DirectFloats buffer = buffers.get(slot);
    if (buffer == null || buffer.length() < floats) {
      buffer = DirectFloats.allocate(Math.toIntExact(floats));
      buffers.set(slot, buffer);
    }
    return buffer;
  }

  /**
   * Copies, as float32, the gradients of bucket {@code index} ({@code bucket}'s parameters in order) into its
   * buffer and returns the filled prefix. {@code gradientOf} gives a parameter's gradient, which is closed here
   * (temporaries live in a sub-manager of {@code scope}), or null for zeros.
   */
  DirectFloats fill(NDManager scope, int index, List<Map.Entry<String, NDArray>> bucket,
      Function<String, NDArray> gradientOf) {
    long floats = bucket.stream().mapToLong(p -> p.getValue().size()).sum();
    DirectFloats buffer = buffer(index, floats);
    int offset = 0;
    for (Map.Entry<String, NDArray> p : bucket) {
      int n = Math.toIntExact(p.getValue().size());
      NDArray gradient = gradientOf.apply(p.getKey());
      if (gradient == null) {
        for (int i = offset; i < offset + n; i++) {
          buffer.put(i, 0f);
        }
      } else {
        try (NDManager conversion = scope.newSubManager()) {
          gradient.attach(conversion); // it and its float32 host copy, if one is needed, close here
          NDArray values = gradient.toDevice(Device.cpu(), false).toType(DataType.FLOAT32, false);
          buffer.bytes(offset, n).put(values.toByteBuffer(true)); // a view of the tensor's memory, copied once
        }
      }
      offset += n;
    }
    return buffer.prefix(offset);
  }
}
