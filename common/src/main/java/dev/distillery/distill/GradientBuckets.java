package dev.distillery.distill;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.distillery.collective.DirectFloats;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The host buffers gradient buckets are copied into for the ring, kept across steps: one per bucket where the
 * reduced gradients stay views of their bucket until the step ends (the whole optimizer on the CPU), else one
 * buffer of the largest bucket that every bucket reuses in turn.
 */
final class GradientBuckets {
  private final boolean onePerBucket;
  private final List<DirectFloats> buffers = new ArrayList<>();

  GradientBuckets(boolean onePerBucket) {
    this.onePerBucket = onePerBucket;
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
