package dev.distillery.prune;

import dev.distillery.io.CheckpointReader;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.DType;
import dev.distillery.io.TensorInfo;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Streams {@link TensorSlice}s from a teacher checkpoint into a student checkpoint in windows of consecutive
 * teacher rows of at most {@code chunkBytes} (or one row, if a row is larger): it reads the window's raw bytes,
 * gathers the kept rows and columns as raw elements, and writes them raw when the dtypes match, converting
 * through floats only when they differ. Memory is two buffers of about {@code chunkBytes} (plus the window as
 * floats when converting).
 */
final class SliceStreamer {
  private static final VarHandle SHORTS = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INTS = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

  private final CheckpointReader teacher;
  private final CheckpointWriter student;
  private final int chunkBytes;
  private byte[] window = new byte[0];
  private byte[] gathered = new byte[0];

  SliceStreamer(CheckpointReader teacher, CheckpointWriter student, int chunkBytes) {
    this.teacher = teacher;
    this.student = student;
    this.chunkBytes = chunkBytes;
  }

  /** Writes one student tensor completely; returns the teacher bytes read. */
  long stream(TensorSlice slice) {
    TensorInfo info = teacher.info(slice.source());
    long[] shape = info.shape();
    long rowCount = shape.length == 1 ? 1 : shape[0];
    int rowLength = Math.toIntExact(shape.length == 1 ? shape[0] : info.rowLength());
    int[] rows = keepsAll(slice.rows(), rowCount) ? null : slice.rows();
    int[] columns = keepsAll(slice.columns(), rowLength) ? null : slice.columns();
    int elementSize = info.dtype().byteSize();
    long rowBytes = (long) rowLength * elementSize;
    int rowsPerWindow = (int) Math.max(1, Math.min(chunkBytes / rowBytes, rowCount));
    int outRowBytes = (columns == null ? rowLength : columns.length) * elementSize;
    long keptRows = rows == null ? rowCount : rows.length;
    long bytesRead = 0;
    for (long k = 0; k < keptRows; ) {
      long first = sourceRow(rows, k);
      long end = k + 1;
      while (end < keptRows && sourceRow(rows, end) < first + rowsPerWindow) {
        end++;
      }
      int spanBytes = Math.toIntExact((sourceRow(rows, end - 1) - first + 1) * rowBytes);
      window = ensure(window, spanBytes);
      teacher.readRaw(slice.source(), first * rowBytes, ByteBuffer.wrap(window, 0, spanBytes));
      bytesRead += spanBytes;
      if (rows == null && columns == null) {
        emit(slice.target(), info.dtype(), window, spanBytes);
      } else {
        int outBytes = Math.toIntExact((end - k) * outRowBytes);
        gathered = ensure(gathered, outBytes);
        for (long j = k; j < end; j++) {
          int from = Math.toIntExact((sourceRow(rows, j) - first) * rowBytes);
          int to = Math.toIntExact((j - k) * outRowBytes);
          if (columns == null) {
            System.arraycopy(window, from, gathered, to, outRowBytes);
          } else {
            gatherColumns(window, from, columns, elementSize, gathered, to);
          }
        }
        emit(slice.target(), info.dtype(), gathered, outBytes);
      }
      k = end;
    }
    return bytesRead;
  }

  /** The teacher row of the {@code k}-th kept row. */
  private static long sourceRow(int[] rows, long k) {
    return rows == null ? k : rows[(int) k];
  }

  /** Whether ascending, in-range {@code kept} indices (or null) select all {@code size} positions. */
  private static boolean keepsAll(int[] kept, long size) {
    return kept == null || kept.length == size;
  }

  private static byte[] ensure(byte[] buffer, int size) {
    return buffer.length >= size ? buffer : new byte[size];
  }

  private static void gatherColumns(byte[] src, int from, int[] columns, int elementSize, byte[] dst, int to) {
    switch (elementSize) {
      case 2 -> {
        for (int c : columns) {
          SHORTS.set(dst, to, (short) SHORTS.get(src, from + 2 * c));
          to += 2;
        }
      }
      case 4 -> {
        for (int c : columns) {
          INTS.set(dst, to, (int) INTS.get(src, from + 4 * c));
          to += 4;
        }
      }
      default -> {
        for (int c : columns) {
          System.arraycopy(src, from + c * elementSize, dst, to, elementSize);
          to += elementSize;
        }
      }
    }
  }

  private void emit(String target, DType sourceType, byte[] data, int length) {
    ByteBuffer bytes = ByteBuffer.wrap(data, 0, length).order(ByteOrder.LITTLE_ENDIAN);
    if (sourceType == student.dtype()) {
      student.writeRaw(target, bytes);
    } else {
      float[] values = new float[length / sourceType.byteSize()];
      sourceType.decode(bytes, values, 0, values.length);
      student.writeRows(target, values);
    }
  }
}
