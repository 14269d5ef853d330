package dev.distillery.distill;

import dev.distillery.tokenize.RowWindows;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * A training row with its teacher's stored distribution, as one int32 record of the data order
 * ({@link OrderedSequences}), so a rank streams both together: {@code [positions, k, value bytes]}, the token ids,
 * then the distribution's id, log-probability and tail bytes packed little-endian into int32s (zero-padded).
 *
 * @param ids the row's token ids
 * @param logits its teacher's stored distribution, one position per token
 */
public record StoredRow(int[] ids, TopKLogits logits) {
  private static final int HEADER = 3;

  /**
   * This row cut into windows of at most {@code window} tokens ({@link RowWindows}), each with the stored
   * distributions of its positions. The teacher-logits job ran the teacher on windows of its own context
   * ({@link WindowedTopK}), so when {@code window} is that context each window holds what the online teacher gives
   * on it alone.
   */
  public List<StoredRow> windows(int window) {
    if (!RowWindows.cuts(ids.length, window)) {
      return List.of(this);
    }
    return RowWindows.bounds(ids.length, window).stream()
        .map(b -> new StoredRow(java.util.Arrays.copyOfRange(ids, b[0], b[1]), logits.positions(b[0], b[1])))
        .toList();
  }

  /** The record of this row. */
  public int[] toRecord() {
    byte[] idBytes = logits.idBytes();
    byte[] logProbBytes = logits.logProbBytes();
    byte[] tailBytes = logits.tailBytes();
    int payload = idBytes.length + logProbBytes.length + tailBytes.length;
    ByteBuffer bytes = ByteBuffer.allocate((payload + 3) / 4 * 4).order(ByteOrder.LITTLE_ENDIAN);
    bytes.put(idBytes).put(logProbBytes).put(tailBytes).rewind();
    int[] record = new int[HEADER + ids.length + bytes.capacity() / 4];
    record[0] = ids.length;
    record[1] = logits.k();
    record[2] = logits.values().bytes();
    System.arraycopy(ids, 0, record, HEADER, ids.length);
    bytes.asIntBuffer().get(record, HEADER + ids.length, bytes.capacity() / 4);
    return record;
  }

  /**
   * The row a record holds.
   *
   * @param where names the record in errors
   * @throws IllegalArgumentException when the record is shorter than its header says (a truncated file)
   */
  public static StoredRow fromRecord(int[] record, String where) {
    if (record.length < HEADER || record[0] < 0 || HEADER + (long) record[0] > record.length) {
      throw new IllegalArgumentException(where + ": a stored-teacher record of " + record.length
          + " int32s is truncated or not such a record");
    }
    int positions = record[0];
    int k = record[1];
    TopKLogits.Values values = record[2] == 2 ? TopKLogits.Values.FLOAT16 : TopKLogits.Values.FLOAT32;
    int[] ids = java.util.Arrays.copyOfRange(record, HEADER, HEADER + positions);
    ByteBuffer bytes = ByteBuffer.allocate((record.length - HEADER - positions) * 4).order(ByteOrder.LITTLE_ENDIAN);
    bytes.asIntBuffer().put(record, HEADER + positions, record.length - HEADER - positions);
    long entries = (long) positions * k;
    byte[] idBytes = new byte[Math.toIntExact(Math.min(entries * 4, bytes.capacity()))];
    bytes.get(idBytes);
    byte[] logProbBytes = new byte[Math.toIntExact(Math.min(entries * values.bytes(), bytes.remaining()))];
    bytes.get(logProbBytes);
    byte[] tailBytes = new byte[Math.min(positions * values.bytes(), bytes.remaining())];
    bytes.get(tailBytes);
    return new StoredRow(ids, TopKLogits.decode(positions, k, values, idBytes, logProbBytes, tailBytes, where));
  }
}
