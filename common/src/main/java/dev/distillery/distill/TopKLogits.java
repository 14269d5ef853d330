package dev.distillery.distill;

import dev.distillery.io.HalfFloats;
import java.io.ByteArrayOutputStream;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * A teacher's next-token distribution at every position of one token row, truncated to its {@code k} most likely
 * ids, in the compact layout stored by the teacher-logits job: per position, {@code k} token ids (int32, most likely
 * first), their log-probabilities at temperature 1 over the teacher's whole vocabulary, and the log of the
 * probability mass of all other ids (the tail, {@code -inf} when the k ids cover the vocabulary). Values are float16
 * (2 bytes) or float32 (4 bytes); all numbers little-endian. One row takes {@code positions × (4k + v·k + v)} bytes
 * for a value width {@code v}: 386 bytes per token for k = 64 in float16 (the table adds the row's 4-byte token ids).
 */
public final class TopKLogits implements Serializable {
  private static final long serialVersionUID = 1L;

  /** How log-probabilities are stored. */
  public enum Values {
    FLOAT16(2), FLOAT32(4);

    private final int bytes;

    Values(int bytes) {
      this.bytes = bytes;
    }

    /** Bytes per stored value. */
    public int bytes() {
      return bytes;
    }

    /** {@code float16} or {@code float32}. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The values named {@code float16} or {@code float32}. */
    public static Values of(String label) {
      return valueOf(label.toUpperCase(java.util.Locale.ROOT));
    }
  }

  private final int positions;
  private final int k;
  private final Values values;
  private final byte[] ids;
  private final byte[] logProbs;
  private final byte[] tail;

  private TopKLogits(int positions, int k, Values values, byte[] ids, byte[] logProbs, byte[] tail) {
    this.positions = positions;
    this.k = k;
    this.values = values;
    this.ids = ids;
    this.logProbs = logProbs;
    this.tail = tail;
  }

  /**
   * Encodes a row.
   *
   * @param ids {@code positions × k} token ids, position-major
   * @param logProbs their log-probabilities, same layout
   * @param tailLogMass per position, log of the probability of every id not among the k
   */
  public static TopKLogits encode(int k, Values values, int[] ids, float[] logProbs, float[] tailLogMass) {
    int positions = tailLogMass.length;
    if (k < 1 || ids.length != (long) positions * k || logProbs.length != ids.length) {
      throw new IllegalArgumentException("a top-" + k + " row of " + positions + " positions needs " + positions * k
          + " ids and log-probabilities, got " + ids.length + " and " + logProbs.length);
    }
    ByteBuffer idBytes = little(ids.length * 4);
    for (int id : ids) {
      idBytes.putInt(id);
    }
    return new TopKLogits(positions, k, values, idBytes.array(), pack(logProbs, values), pack(tailLogMass, values));
  }

  /**
   * A stored row, checked: the three byte strings must hold {@code positions} positions of {@code k} entries.
   *
   * @param where the file (and row) it came from, named in the error
   * @throws IllegalArgumentException naming {@code where} when a length does not fit (a truncated or foreign row)
   */
  public static TopKLogits decode(int positions, int k, Values values, byte[] ids, byte[] logProbs, byte[] tail,
      String where) {
    long entries = (long) positions * k;
    if (ids.length != entries * 4 || logProbs.length != entries * values.bytes
        || tail.length != (long) positions * values.bytes) {
      throw new IllegalArgumentException(where + ": a row of " + positions + " tokens with top-k " + k + " ("
          + values.label() + ") needs " + entries * 4 + " id bytes, " + entries * values.bytes + " log-prob bytes and "
          + positions * values.bytes + " tail bytes, but holds " + ids.length + ", " + logProbs.length + " and "
          + tail.length + "; the row is truncated or was written with other settings");
    }
    return new TopKLogits(positions, k, values, ids, logProbs, tail);
  }

  /** Stored bytes per token position. */
  public static int bytesPerPosition(int k, Values values) {
    return k * 4 + k * values.bytes + values.bytes;
  }

  public int positions() {
    return positions;
  }

  public int k() {
    return k;
  }

  public Values values() {
    return values;
  }

  /** The stored id bytes (not copied). */
  public byte[] idBytes() {
    return ids;
  }

  /** The stored log-probability bytes (not copied). */
  public byte[] logProbBytes() {
    return logProbs;
  }

  /** The stored tail bytes (not copied). */
  public byte[] tailBytes() {
    return tail;
  }

  /** Positions {@code [from, to)} of this row: the distributions of a window of it. */
  public TopKLogits positions(int from, int to) {
    if (from < 0 || to > positions || from > to) {
      throw new IndexOutOfBoundsException("positions [" + from + ", " + to + ") of a row of " + positions);
    }
    int idWidth = k * 4;
    int valueWidth = k * values.bytes;
    return new TopKLogits(to - from, k, values, java.util.Arrays.copyOfRange(ids, from * idWidth, to * idWidth),
        java.util.Arrays.copyOfRange(logProbs, from * valueWidth, to * valueWidth),
        java.util.Arrays.copyOfRange(tail, from * values.bytes, to * values.bytes));
  }

  /**
   * The rows {@code parts} joined, position after position: a row's distributions from those of its windows.
   *
   * @throws IllegalArgumentException when {@code parts} is empty or its rows differ in k or value width
   */
  public static TopKLogits concat(List<TopKLogits> parts) {
    if (parts.isEmpty()) {
      throw new IllegalArgumentException("no rows to join");
    }
    TopKLogits first = parts.get(0);
    ByteArrayOutputStream ids = new ByteArrayOutputStream();
    ByteArrayOutputStream logProbs = new ByteArrayOutputStream();
    ByteArrayOutputStream tail = new ByteArrayOutputStream();
    int positions = 0;
    for (TopKLogits part : parts) {
      if (part.k != first.k || part.values != first.values) {
        throw new IllegalArgumentException("cannot join a top-" + part.k + " " + part.values.label() + " row to a top-"
            + first.k + " " + first.values.label() + " row");
      }
      ids.writeBytes(part.ids);
      logProbs.writeBytes(part.logProbs);
      tail.writeBytes(part.tail);
      positions += part.positions;
    }
    return new TopKLogits(positions, first.k, first.values, ids.toByteArray(), logProbs.toByteArray(),
        tail.toByteArray());
  }

  /** Entry {@code j} (0 = most likely) of position {@code t}: its token id. */
  public int id(int t, int j) {
    return readInt(ids, t * k + j);
  }

  /** Entry {@code j} of position {@code t}: its log-probability. */
  public float logProb(int t, int j) {
    return read(logProbs, t * k + j, values);
  }

  /** Log of the probability mass outside position {@code t}'s k ids. */
  public float tailLogMass(int t) {
    return read(tail, t, values);
  }

  private static ByteBuffer little(int bytes) {
    return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static byte[] pack(float[] numbers, Values values) {
    ByteBuffer out = little(numbers.length * values.bytes);
    for (float v : numbers) {
      if (values == Values.FLOAT16) {
        out.putShort(HalfFloats.floatToF16(v));
      } else {
        out.putFloat(v);
      }
    }
    return out.array();
  }

  private static int readInt(byte[] bytes, int index) {
    int o = index * 4;
    return (bytes[o] & 0xff) | (bytes[o + 1] & 0xff) << 8 | (bytes[o + 2] & 0xff) << 16 | (bytes[o + 3] & 0xff) << 24;
  }

  private static float read(byte[] bytes, int index, Values values) {
    if (values == Values.FLOAT16) {
      int o = index * 2;
      return HalfFloats.f16ToFloat((short) ((bytes[o] & 0xff) | (bytes[o + 1] & 0xff) << 8));
    }
    return Float.intBitsToFloat(readInt(bytes, index));
  }
}
