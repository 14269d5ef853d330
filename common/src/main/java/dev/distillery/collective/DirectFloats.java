package dev.distillery.collective;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Floats in native memory, little-endian: what the ring all-reduce works on. Sockets send from and receive
 * into it without the copy a Java array would need, and DJL can create arrays from (and read gradients
 * into) its byte views.
 */
public final class DirectFloats {
  private final ByteBuffer bytes;
  private final FloatBuffer floats;

  private DirectFloats(ByteBuffer bytes) {
    this.bytes = bytes;
    this.floats = bytes.asFloatBuffer();
  }

  /** {@code length} zeros. */
  public static DirectFloats allocate(int length) {
    if (length < 0) {
      throw new IllegalArgumentException("negative length " + length);
    }
    return new DirectFloats(ByteBuffer.allocateDirect(Math.multiplyExact(length, Float.BYTES))
        .order(ByteOrder.LITTLE_ENDIAN));
  }

  /** A copy of {@code values}. */
  public static DirectFloats of(float... values) {
    DirectFloats copy = allocate(values.length);
    copy.floats.put(0, values);
    return copy;
  }

  public int length() {
    return floats.capacity();
  }

  public float get(int index) {
    return floats.get(index);
  }

  public void put(int index, float value) {
    floats.put(index, value);
  }

  /** The first {@code length} floats, sharing this memory ({@code this} when that is all of them). */
  public DirectFloats prefix(int length) {
    return length == length() ? this : new DirectFloats(bytes(0, length));
  }

  /** The values as a new array. */
  public float[] toArray() {
    float[] values = new float[length()];
    floats.get(0, values);
    return values;
  }

  /**
   * Floats {@code [from, from + count)} as a little-endian byte view of the same memory, positioned at 0:
   * to fill (e.g. {@code put} a gradient's bytes) or to wrap (e.g. DJL's {@code NDManager.create(Buffer)}).
   */
  public ByteBuffer bytes(int from, int count) {
    return bytes.slice(Math.multiplyExact(from, Float.BYTES), Math.multiplyExact(count, Float.BYTES))
        .order(ByteOrder.LITTLE_ENDIAN);
  }

  /** {@code target[at + i] += source[from + i]} for {@code i < n}: the one add loop of the reductions. */
  static void addInto(FloatBuffer target, int at, FloatBuffer source, int from, int n) {
    for (int i = 0; i < n; i++) {
      target.put(at + i, target.get(at + i) + source.get(from + i));
    }
  }

  /** The float view of the whole buffer, for arithmetic (absolute get/put only: it is shared). */
  FloatBuffer floats() {
    return floats;
  }
}
