package dev.distillery.bench;

import dev.distillery.io.CheckpointReader;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.DType;
import dev.distillery.io.RandomCheckpoint;
import dev.distillery.io.Storage;
import dev.distillery.io.TensorInfo;
import dev.distillery.model.LlamaConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Scale check of checkpoint I/O: generates (or reuses) a BF16 checkpoint with Llama-3.1-8B shapes in 5 GB
 * shards, then reads every tensor through {@link CheckpointReader} in row chunks and prints throughput and
 * peak RSS. Usage: {@code CheckpointReadBenchmark <dir>}; see {@code submit-scripts/bench-checkpoint-read.sh}.
 */
public final class CheckpointReadBenchmark {
  private static final long CHUNK_ELEMENTS = 16L << 20;

  private CheckpointReadBenchmark() {}

  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: CheckpointReadBenchmark <checkpoint-dir>");
      System.exit(2);
    }
    String dir = args[0];
    Storage storage = Storage.of(dir);
    LlamaConfig config = LlamaConfig.llama31_8b();
    if (storage.isCommitted(dir)) {
      System.out.println("Reusing " + dir);
    } else {
      long start = System.nanoTime();
      RandomCheckpoint.generate(storage, dir, config, DType.BF16, 1, CheckpointWriter.DEFAULT_MAX_SHARD_BYTES, true);
      double seconds = (System.nanoTime() - start) / 1e9;
      System.out.printf("generated %,d parameters (BF16) in %.1f s (%.2f GB/s written); peak RSS so far %s%n",
          config.parameterCount(), seconds, config.parameterCount() * 2 / seconds / 1e9, peakRss());
    }
    long start = System.nanoTime();
    long bytes = 0;
    double checksum = 0;
    try (CheckpointReader reader = CheckpointReader.open(storage, dir)) {
      for (String name : reader.tensorNames()) {
        TensorInfo info = reader.info(name);
        bytes += info.byteLength();
        checksum += info.shape().length == 1 ? sum(reader.readFloats(name)) : sumByRows(reader, info);
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    System.out.printf("read %,d bytes in %.1f s = %.2f GB/s (checksum %.6e); peak RSS %s; max heap %d MiB%n",
        bytes, seconds, bytes / seconds / 1e9, checksum, peakRss(), Runtime.getRuntime().maxMemory() >> 20);
  }

  private static double sumByRows(CheckpointReader reader, TensorInfo info) {
    long rows = info.rowCount();
    int rowsPerChunk = (int) Math.max(1, CHUNK_ELEMENTS / info.rowLength());
    double sum = 0;
    for (long row = 0; row < rows; row += rowsPerChunk) {
      sum += sum(reader.readRows(info.name(), row, (int) Math.min(rowsPerChunk, rows - row)));
    }
    return sum;
  }

  private static double sum(float[] values) {
    double sum = 0;
    for (float v : values) {
      sum += v;
    }
    return sum;
  }

  private static String peakRss() throws IOException {
    Path status = Path.of("/proc/self/status");
    if (!Files.exists(status)) {
      return "n/a";
    }
    return Files.readAllLines(status).stream().filter(l -> l.startsWith("VmHWM:"))
        .map(l -> l.substring(6).trim()).findFirst().orElse("n/a");
  }
}
