package dev.distillery.io;

import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams one {@code .safetensors} file. All tensors are {@link #declare declared} first (the header holds
 * every offset); the first write freezes the layout and writes the header. Data then comes in declared
 * order, each tensor whole ({@link #write}) or appended in rows ({@link #writeRows}) or raw bytes
 * ({@link #writeRaw}). Floats are rounded to the tensor's dtype (nearest even). {@link #close()} fails
 * and deletes the file if any declared tensor is incomplete, so a partial file never looks finished.
 */
public final class SafetensorsWriter implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(SafetensorsWriter.class);

  private final Storage storage;
  private final String file;
  private final Map<String, TensorInfo> declared = new LinkedHashMap<>();
  private List<TensorInfo> order;
  private OutputStream out;
  private ByteBuffer chunk;
  private int current;
  private long writtenOfCurrent;
  private boolean closed;

  /** A writer of {@code file}, which is created (replacing any file there) on the first write. */
  public SafetensorsWriter(Storage storage, String file) {
    this.storage = storage;
    this.file = file;
  }

  /** The file being written. */
  public String file() {
    return file;
  }

  /** Adds a tensor to the layout; allowed only before the first write. */
  public void declare(String name, DType dtype, long[] shape) {
    if (order != null) {
      throw new IllegalStateException(file + ": cannot declare '" + name + "' after writing has started");
    }
    if (name.equals(SafetensorsHeader.METADATA_KEY) || declared.containsKey(name)) {
      throw new IllegalArgumentException(file + ": tensor name '" + name + "' is reserved or already declared");
    }
    long bytes;
    try {
      bytes = Math.multiplyExact(TensorInfo.elementCount(shape), dtype.byteSize());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(file + ": tensor '" + name + "' shape " + Arrays.toString(shape)
          + " is too large", e);
    }
    if (Arrays.stream(shape).anyMatch(d -> d < 0)) {
      throw new IllegalArgumentException(file + ": tensor '" + name + "' has a negative dimension "
          + Arrays.toString(shape));
    }
    declared.put(name, new TensorInfo(name, dtype, shape, 0, bytes, file));
  }

  /** Writes a whole tensor. */
  public void write(String name, float[] data) {
    TensorInfo t = begin(name);
    if (writtenOfCurrent != 0 || (long) data.length * t.dtype().byteSize() != t.byteLength()) {
      throw new IllegalArgumentException(file + ": tensor '" + name + "' needs " + t.elementCount()
          + " elements in one write, got " + data.length + (writtenOfCurrent != 0 ? " after a partial write" : ""));
    }
    appendFloats(t, data);
  }

  /** Appends whole rows (a multiple of the product of all but the first dimension) to a tensor. */
  public void writeRows(String name, float[] rows) {
    TensorInfo t = begin(name);
    long rowLength = t.rowLength();
    if (rowLength == 0 ? rows.length != 0 : rows.length % rowLength != 0) {
      throw new IllegalArgumentException(file + ": tensor '" + name + "' rows have " + rowLength
          + " elements; got " + rows.length + ", not a whole number of rows");
    }
    appendFloats(t, rows);
  }

  /** Appends raw bytes, already in the tensor's dtype and little-endian, from {@code data}'s position to limit. */
  public void writeRaw(String name, ByteBuffer data) {
    TensorInfo t = begin(name);
    checkRoom(t, data.remaining());
    try {
      if (data.hasArray()) {
        out.write(data.array(), data.arrayOffset() + data.position(), data.remaining());
        writtenOfCurrent += data.remaining();
        data.position(data.limit());
      } else {
        byte[] copy = new byte[Math.min(data.remaining(), SafetensorsReader.CHUNK_BYTES)];
        while (data.hasRemaining()) {
          int n = Math.min(copy.length, data.remaining());
          data.get(copy, 0, n);
          out.write(copy, 0, n);
          writtenOfCurrent += n;
        }
      }
    } catch (IOException e) {
      throw writeFailure(name, e);
    }
  }

  private TensorInfo begin(String name) {
    if (closed) {
      throw new IllegalStateException(file + ": writer is closed");
    }
    if (order == null) {
      writeHeader();
    }
    while (current < order.size() && writtenOfCurrent == order.get(current).byteLength()
        && !order.get(current).name().equals(name)) {
      current++;
      writtenOfCurrent = 0;
    }
    if (current >= order.size() || !order.get(current).name().equals(name)) {
      String expected = current < order.size() ? "'" + order.get(current).name() + "'" : "nothing more";
      throw new IllegalStateException(file + ": tensor '" + name + "' written out of order or undeclared; "
          + "expected " + expected + " (tensors are written in declared order, each completely)");
    }
    return order.get(current);
  }

  private void writeHeader() {
    order = new ArrayList<>(declared.values());
    byte[] header = SafetensorsHeader.build(order, Map.of("format", "pt"));
    out = storage.create(file, true);
    chunk = ByteBuffer.allocate(SafetensorsReader.CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    try {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
      out.write(header);
    } catch (IOException e) {
      throw writeFailure("(header)", e);
    }
  }

  private void appendFloats(TensorInfo t, float[] values) {
    int elementSize = t.dtype().byteSize();
    checkRoom(t, (long) values.length * elementSize);
    int chunkElements = chunk.capacity() / elementSize;
    try {
      for (int done = 0; done < values.length; ) {
        int n = Math.min(chunkElements, values.length - done);
        chunk.clear();
        t.dtype().encode(values, done, n, chunk);
        out.write(chunk.array(), 0, n * elementSize);
        done += n;
      }
    } catch (IOException e) {
      throw writeFailure(t.name(), e);
    }
    writtenOfCurrent += (long) values.length * elementSize;
  }

  private void checkRoom(TensorInfo t, long bytes) {
    if (writtenOfCurrent + bytes > t.byteLength()) {
      throw new IllegalArgumentException(file + ": tensor '" + t.name() + "' holds " + t.byteLength()
          + " bytes; writing " + bytes + " more after " + writtenOfCurrent + " would overflow it");
    }
  }

  private UncheckedIOException writeFailure(String tensor, IOException e) {
    return new UncheckedIOException(file + ": cannot write tensor " + tensor + ": " + e.getMessage(), e);
  }

  /**
   * Finishes the file. If any declared tensor is incomplete, deletes the file and throws, naming them.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (order == null) {
      writeHeader();
    }
    List<String> incomplete = incompleteTensors();
    try {
      out.close();
    } catch (IOException e) {
      storage.delete(file);
      throw writeFailure("(closing)", e);
    }
    if (!incomplete.isEmpty()) {
      storage.delete(file);
      throw new IllegalStateException(file + ": " + incomplete.size() + " declared tensor(s) not fully written, "
          + "file deleted: " + String.join(", ", incomplete.subList(0, Math.min(5, incomplete.size())))
          + (incomplete.size() > 5 ? ", ..." : ""));
    }
    LOG.debug("Wrote {} tensors to {}", order.size(), file);
  }

  /** Closes without checking and deletes the file; for callers giving up. Does nothing once closed. */
  public void abort() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (out != null) {
        out.close();
      }
    } catch (IOException e) {
      LOG.warn("{}: error closing an aborted file: {}", file, e.getMessage());
    }
    storage.delete(file);
  }

  private List<String> incompleteTensors() {
    List<String> names = new ArrayList<>();
    for (int i = current; i < order.size(); i++) {
      if (i > current || writtenOfCurrent < order.get(i).byteLength()) {
        names.add(order.get(i).name());
      }
    }
    return names;
  }
}
