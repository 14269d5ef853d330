package dev.distillery.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.apache.hadoop.fs.FSDataInputStream;

/** SHA-256 fingerprints of files and checkpoints, as lower-case hex. */
public final class Fingerprints {
  private static final int SAMPLES = 64;
  private static final int SAMPLE_BYTES = 16 << 10;

  private Fingerprints() {}

  /** SHA-256 of a whole file's bytes. */
  public static String sha256(Storage storage, String path) {
    MessageDigest digest = newDigest();
    try (InputStream in = storage.open(path)) {
      byte[] buffer = new byte[1 << 16];
      for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
        digest.update(buffer, 0, n);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + path + ": " + e.getMessage(), e);
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  /**
   * SHA-256 identifying a checkpoint without reading its tensor data: {@code config.json}, the safetensors index if
   * any, and each shard's header (its length prefix and JSON), in shard order. Any change of architecture, tensor
   * names, dtypes, shapes or offsets changes it.
   */
  public static String checkpoint(Storage storage, CheckpointReader checkpoint) {
    MessageDigest digest = newDigest();
    digest.update(storage.readText(Storage.resolve(checkpoint.directory(), CheckpointReader.CONFIG_FILE))
        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
    String index = Storage.resolve(checkpoint.directory(), CheckpointReader.INDEX_FILE);
    if (storage.exists(index)) {
      digest.update(storage.readText(index).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    for (String shard : checkpoint.shardFiles()) {
      try (FSDataInputStream in = storage.open(shard)) {
        byte[] prefix = new byte[8];
        in.readFully(0, prefix);
        long length = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getLong();
        byte[] header = new byte[Math.toIntExact(length)];
        in.readFully(8, header);
        digest.update(prefix);
        digest.update(header);
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot read the header of " + shard + ": " + e.getMessage(), e);
      }
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  /**
   * {@link #checkpoint} plus samples of the tensor data: {@value #SAMPLES} runs of {@value #SAMPLE_BYTES} bytes evenly
   * spaced over each shard. It tells apart checkpoints of one architecture whose weights differ (a teacher before
   * and after fine-tuning, two random ones) while reading about 1 MiB per shard, not the whole checkpoint.
   */
  public static String checkpointWithSamples(Storage storage, CheckpointReader checkpoint) {
    MessageDigest digest = newDigest();
    digest.update(checkpoint(storage, checkpoint).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    byte[] sample = new byte[SAMPLE_BYTES];
    for (String shard : checkpoint.shardFiles()) {
      long size = storage.size(shard);
      try (FSDataInputStream in = storage.open(shard)) {
        for (int i = 0; i < SAMPLES; i++) {
          long offset = Math.max(0, size - SAMPLE_BYTES) * i / Math.max(1, SAMPLES - 1);
          int n = (int) Math.min(SAMPLE_BYTES, size - offset);
          in.readFully(offset, sample, 0, n);
          digest.update(sample, 0, n);
        }
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot read " + shard + ": " + e.getMessage(), e);
      }
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  private static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
