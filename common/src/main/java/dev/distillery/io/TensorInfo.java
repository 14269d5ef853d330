package dev.distillery.io;

import java.util.Arrays;
import java.util.Objects;

/**
 * Where one tensor lies in a safetensors file.
 *
 * @param name tensor name
 * @param dtype element type
 * @param shape dimensions (the array is copied; compare with {@link #equals})
 * @param offset absolute byte position of the first element in the file
 * @param byteLength bytes of data
 * @param file the file holding the tensor
 */
public record TensorInfo(String name, DType dtype, long[] shape, long offset, long byteLength, String file) {

  public TensorInfo {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dtype, "dtype");
    shape = shape.clone();
  }

  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** Product of the dimensions (1 for a scalar). */
  public long elementCount() {
    return elementCount(shape);
  }

  /** Elements per row: the product of all dimensions but the first. */
  public long rowLength() {
    return shape.length == 0 ? 1 : elementCount(Arrays.copyOfRange(shape, 1, shape.length));
  }

  /** Rows: the first dimension. */
  public long rowCount() {
    return shape.length == 0 ? 1 : shape[0];
  }

  /** Product of {@code dims}; throws {@link ArithmeticException} on overflow. */
  public static long elementCount(long[] dims) {
    long count = 1;
    for (long d : dims) {
      count = Math.multiplyExact(count, d);
    }
    return count;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
        && offset == t.offset && byteLength == t.byteLength && Objects.equals(file, t.file);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, dtype, Arrays.hashCode(shape), offset, byteLength, file);
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape) + " @" + offset + "+" + byteLength + " in " + file;
  }
}
