package dev.distillery.distill;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.io.Storage;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.fs.FSDataInputStream;

/**
 * A training split written once in the run's data order, which a rank streams from instead of holding it: a
 * directory of parts, each {@code NAME.ids} (the token ids of consecutive sequences, int32 little-endian, back to
 * back) and {@code NAME.offsets} (int64 little-endian: where each sequence starts, in tokens, then the end), and
 * {@value #MANIFEST} (the parts in order, their sequence counts, and the {@code source} the order was made from).
 * Sequence {@code p} of the order is found by position; a reader keeps only the offsets of the part it is in.
 */
public final class OrderedSequences implements Closeable {
  /** The manifest file of the directory. */
  public static final String MANIFEST = "order.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One part: {@code sequences} consecutive sequences of the order. */
  public record Part(String name, long sequences) {}

  /**
   * What the directory holds.
   *
   * @param source identifies the split, seed and window length the order was made from; a different one means
   *     rebuild
   * @param sequences sequences of the order: the split's rows, those longer than the window as their windows
   * @param cutRows rows of the split that were longer than the window and are held as their windows
   */
  public record Manifest(String source, long sequences, long tokens, long cutRows, List<Part> parts) {}

  private final Storage storage;
  private final String dir;
  private final Manifest manifest;
  private final long[] partStarts;
  private int openPart = -1;
  private long[] offsets;
  private FSDataInputStream ids;

  private OrderedSequences(Storage storage, String dir, Manifest manifest) {
    this.storage = storage;
    this.dir = dir;
    this.manifest = manifest;
    this.partStarts = new long[manifest.parts().size() + 1];
    for (int i = 0; i < manifest.parts().size(); i++) {
      partStarts[i + 1] = partStarts[i] + manifest.parts().get(i).sequences();
    }
  }

  /** Opens a committed directory for reading. */
  public static OrderedSequences open(Storage storage, String dir) {
    return new OrderedSequences(storage, dir, readManifest(storage, dir).orElseThrow(
        () -> new IllegalArgumentException(dir + ": no committed " + MANIFEST + " of ordered training sequences")));
  }

  /** The manifest of a committed directory, or empty when there is none. */
  public static Optional<Manifest> readManifest(Storage storage, String dir) {
    String path = Storage.resolve(dir, MANIFEST);
    if (!storage.isCommitted(dir) || !storage.exists(path)) {
      return Optional.empty();
    }
    try {
      JsonNode root = JSON.readTree(storage.readText(path));
      List<Part> parts = new ArrayList<>();
      for (JsonNode part : root.path("parts")) {
        parts.add(new Part(part.get("name").asText(), part.get("sequences").asLong()));
      }
      return Optional.of(new Manifest(root.get("source").asText(), root.get("sequences").asLong(),
          root.get("tokens").asLong(), root.path("cut_rows").asLong(0), parts));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(path + ": not a valid manifest of ordered sequences (" + e + "); delete "
          + dir + " to rebuild it", e);
    }
  }

  /** Writes {@link #MANIFEST} into {@code dir} (before it is committed). */
  public static void writeManifest(Storage storage, String dir, Manifest manifest) {
    ObjectNode root = JSON.createObjectNode();
    root.put("source", manifest.source());
    root.put("sequences", manifest.sequences());
    root.put("tokens", manifest.tokens());
    root.put("cut_rows", manifest.cutRows());
    ArrayNode parts = root.putArray("parts");
    for (Part part : manifest.parts()) {
      parts.addObject().put("name", part.name()).put("sequences", part.sequences());
    }
    storage.writeText(Storage.resolve(dir, MANIFEST), root.toPrettyString() + "\n");
  }

  /**
   * Writes the part {@code name} of {@code sequences} into {@code dir}, streaming; returns its sequence and token
   * counts.
   */
  public static long[] writePart(Storage storage, String dir, String name, Iterator<int[]> sequences) {
    String idsPath = Storage.resolve(dir, name + ".ids");
    String offsetsPath = Storage.resolve(dir, name + ".offsets");
    long count = 0;
    long tokens = 0;
    try (DataOutputStream idsOut = buffered(storage.create(idsPath, true));
        DataOutputStream offsetsOut = buffered(storage.create(offsetsPath, true))) {
      offsetsOut.writeLong(Long.reverseBytes(0));
      while (sequences.hasNext()) {
        int[] sequence = sequences.next();
        for (int id : sequence) {
          idsOut.writeInt(Integer.reverseBytes(id));
        }
        tokens += sequence.length;
        count++;
        offsetsOut.writeLong(Long.reverseBytes(tokens));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + idsPath + ": " + e.getMessage(), e);
    }
    return new long[] {count, tokens};
  }

  private static DataOutputStream buffered(OutputStream out) {
    return new DataOutputStream(new BufferedOutputStream(out, 1 << 16));
  }

  /** The manifest of this directory. */
  public Manifest manifest() {
    return manifest;
  }

  /** The token ids of sequence {@code position} of the order. */
  public int[] get(long position) {
    if (position < 0 || position >= manifest.sequences()) {
      throw new IndexOutOfBoundsException("sequence " + position + " of " + manifest.sequences() + " in " + dir);
    }
    int part = partOf(position);
    if (part != openPart) {
      openPart(part);
    }
    int local = Math.toIntExact(position - partStarts[part]);
    long start = offsets[local];
    int length = Math.toIntExact(offsets[local + 1] - start);
    byte[] bytes = new byte[length * Integer.BYTES];
    try {
      ids.readFully(start * Integer.BYTES, bytes, 0, bytes.length);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read sequence " + position + " from " + dir + ": " + e.getMessage(), e);
    }
    int[] sequence = new int[length];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(sequence);
    return sequence;
  }

  private int partOf(long position) {
    int lo = 0;
    int hi = manifest.parts().size() - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (partStarts[mid] <= position) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  private void openPart(int part) {
    closeIds();
    String name = manifest.parts().get(part).name();
    String offsetsPath = Storage.resolve(dir, name + ".offsets");
    int entries = Math.toIntExact(manifest.parts().get(part).sequences() + 1);
    byte[] bytes = new byte[entries * Long.BYTES];
    try (FSDataInputStream in = storage.open(offsetsPath)) {
      in.readFully(0, bytes, 0, bytes.length);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + offsetsPath + ": " + e.getMessage(), e);
    }
    offsets = new long[entries];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(offsets);
    ids = storage.open(Storage.resolve(dir, name + ".ids"));
    openPart = part;
  }

  private void closeIds() {
    if (ids != null) {
      try {
        ids.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      ids = null;
    }
  }

  @Override
  public void close() {
    closeIds();
    openPart = -1;
  }
}
