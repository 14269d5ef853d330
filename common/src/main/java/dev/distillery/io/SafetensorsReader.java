package dev.distillery.io;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import org.apache.hadoop.fs.FSDataInputStream;

/**
 * Reads one {@code .safetensors} file tensor by tensor with positioned reads; opening reads and validates
 * only the header. Float reads convert in chunks of {@value #CHUNK_BYTES} bytes, so reading a tensor
 * allocates its output plus one small buffer. Reads from several threads are as safe as the file system's
 * positioned reads (they are for local files, HDFS and S3A).
 */
public final class SafetensorsReader implements Closeable {
  /** Largest header accepted, in bytes. */
  public static final long MAX_HEADER_BYTES = 100L << 20;
  /** Largest element count a single float[] result may have. */
  public static final long MAX_ARRAY_ELEMENTS = Integer.MAX_VALUE - 8;
  static final int CHUNK_BYTES = 8 << 20;

  private final String file;
  private final FSDataInputStream in;
  private final Map<String, TensorInfo> tensors;

  private SafetensorsReader(String file, FSDataInputStream in, Map<String, TensorInfo> tensors) {
    this.file = file;
    this.in = in;
    this.tensors = Collections.unmodifiableMap(tensors);
  }

  /**
   * Opens {@code file} and validates its header.
   *
   * @throws IllegalArgumentException naming the file (and tensor) when the file is not valid safetensors
   */
  public static SafetensorsReader open(Storage storage, String file) {
    long fileSize = storage.size(file);
    FSDataInputStream in = storage.open(file);
    try {
      return new SafetensorsReader(file, in, readHeader(file, in, fileSize));
    } catch (RuntimeException e) {
      closeQuietly(in, e);
      throw e;
    }
  }

  private static Map<String, TensorInfo> readHeader(String file, FSDataInputStream in, long fileSize) {
    if (fileSize < 8) {
      throw new IllegalArgumentException(file + ": " + fileSize
          + " bytes is too short for a safetensors file (8-byte header length missing)");
    }
    byte[] lengthBytes = new byte[8];
    readFully(in, file, "header length", 0, lengthBytes, 8);
    long headerLength = ByteBuffer.wrap(lengthBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    if (headerLength < 2 || headerLength > MAX_HEADER_BYTES) {
      throw new IllegalArgumentException(file + ": header length " + headerLength + " is outside [2, "
          + MAX_HEADER_BYTES + "]; not a safetensors file?");
    }
    if (8 + headerLength > fileSize) {
      throw new IllegalArgumentException(file + ": header length " + headerLength + " runs past the end of the file ("
          + fileSize + " bytes); is the file truncated?");
    }
    byte[] header = new byte[(int) headerLength];
    readFully(in, file, "header", 8, header, header.length);
    return SafetensorsHeader.parse(file, header, 8 + headerLength, fileSize - 8 - headerLength);
  }

  /** The file this reader reads. */
  public String file() {
    return file;
  }

  /** All tensors, in header order. */
  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /** The tensor called {@code name}; throws naming the file if absent. */
  public TensorInfo info(String name) {
    TensorInfo info = tensors.get(name);
    if (info == null) {
      throw new IllegalArgumentException(file + ": no tensor '" + name + "'");
    }
    return info;
  }

  /** The whole tensor as floats (F32, F16 and BF16 only). */
  public float[] readFloats(String name) {
    TensorInfo t = info(name);
    return readElements(t, 0, t.elementCount());
  }

  /**
   * Rows {@code [firstRow, firstRow + rowCount)} of a tensor of rank 2 or more, as floats; a row is the
   * product of all dimensions but the first.
   */
  public float[] readRows(String name, long firstRow, int rowCount) {
    TensorInfo t = info(name);
    long[] shape = t.shape();
    if (shape.length < 2) {
      throw new IllegalArgumentException(file + ": tensor '" + name + "' has shape " + Arrays.toString(shape)
          + "; readRows needs rank 2 or more");
    }
    if (firstRow < 0 || rowCount < 0 || firstRow + rowCount > shape[0]) {
      throw new IndexOutOfBoundsException(file + ": tensor '" + name + "' rows [" + firstRow + ", "
          + (firstRow + rowCount) + ") are outside its " + shape[0] + " rows");
    }
    long rowLength = t.rowLength();
    return readElements(t, firstRow * rowLength, rowLength * rowCount);
  }

  /**
   * Copies raw tensor bytes (in the tensor's dtype, little-endian) starting {@code byteOffset} bytes into
   * the tensor, filling {@code dst} from its position to its limit; the position advances.
   */
  public void readRaw(String name, long byteOffset, ByteBuffer dst) {
    TensorInfo t = info(name);
    int length = dst.remaining();
    if (byteOffset < 0 || byteOffset + length > t.byteLength()) {
      throw new IndexOutOfBoundsException(file + ": tensor '" + name + "' bytes [" + byteOffset + ", "
          + (byteOffset + length) + ") are outside its " + t.byteLength() + " bytes");
    }
    long position = t.offset() + byteOffset;
    if (dst.hasArray()) {
      readFully(in, file, "tensor '" + name + "'", position, dst.array(), dst.arrayOffset() + dst.position(), length);
      dst.position(dst.position() + length);
      return;
    }
    byte[] chunk = new byte[Math.min(length, CHUNK_BYTES)];
    while (dst.hasRemaining()) {
      int n = Math.min(chunk.length, dst.remaining());
      readFully(in, file, "tensor '" + name + "'", position, chunk, 0, n);
      dst.put(chunk, 0, n);
      position += n;
    }
  }

  private float[] readElements(TensorInfo t, long firstElement, long count) {
    if (!t.dtype().isFloatConvertible()) {
      throw new UnsupportedOperationException(file + ": tensor '" + t.name() + "' has dtype " + t.dtype()
          + "; only F32, F16 and BF16 can be read as floats");
    }
    if (count > MAX_ARRAY_ELEMENTS) {
      throw new IllegalArgumentException(file + ": tensor '" + t.name() + "' has " + count
          + " elements to read, more than a float[] holds (" + MAX_ARRAY_ELEMENTS + "); read it in rows");
    }
    int elementSize = t.dtype().byteSize();
    float[] result = new float[(int) count];
    int chunkElements = CHUNK_BYTES / elementSize;
    ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(count, chunkElements) * elementSize)
        .order(ByteOrder.LITTLE_ENDIAN);
    long position = t.offset() + firstElement * elementSize;
    for (int done = 0; done < result.length; ) {
      int n = Math.min(chunkElements, result.length - done);
      readFully(in, file, "tensor '" + t.name() + "'", position, chunk.array(), 0, n * elementSize);
      chunk.clear();
      t.dtype().decode(chunk, result, done, n);
      done += n;
      position += (long) n * elementSize;
    }
    return result;
  }

  private static void readFully(FSDataInputStream in, String file, String what, long position, byte[] dst, int length) {
    readFully(in, file, what, position, dst, 0, length);
  }

  private static void readFully(FSDataInputStream in, String file, String what, long position, byte[] dst,
      int offset, int length) {
    try {
      in.readFully(position, dst, offset, length);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot read " + what + " (" + length + " bytes at position "
          + position + "): " + e.getMessage(), e);
    }
  }

  private static void closeQuietly(Closeable c, Exception primary) {
    try {
      c.close();
    } catch (IOException e) {
      primary.addSuppressed(e);
    }
  }

  @Override
  public void close() {
    try {
      in.close();
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot close: " + e.getMessage(), e);
    }
  }
}
