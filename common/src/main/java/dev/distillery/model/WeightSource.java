package dev.distillery.model;

import java.util.Arrays;
import java.util.Map;

/**
 * Where a {@link LlamaModel} gets its weights: one float32 tensor at a time, by Hugging Face name.
 *
 * <p>Implementations convert from the stored dtype (BF16, F16) to float32 at the I/O boundary.
 */
@FunctionalInterface
public interface WeightSource {

  /**
   * Returns the values of {@code tensorName} in row-major order.
   *
   * @param expectedShape the shape the model needs; implementations should fail, naming the tensor, when the stored
   *     shape differs
   * @throws IllegalArgumentException when the tensor is missing or has another shape
   */
  float[] read(String tensorName, long[] expectedShape);

  /** A source backed by an in-memory map; checks only the element count, since the map has no shapes. */
  static WeightSource of(Map<String, float[]> tensors) {
    return (name, shape) -> {
      float[] values = tensors.get(name);
      if (values == null) {
        throw new IllegalArgumentException("missing tensor " + name);
      }
      long expected = Arrays.stream(shape).reduce(1, Math::multiplyExact);
      if (values.length != expected) {
        throw new IllegalArgumentException("tensor " + name + " has " + values.length + " values, expected shape "
            + Arrays.toString(shape));
      }
      return values;
    };
  }
}
