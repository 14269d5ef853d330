package dev.distillery.io;

import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Generates a valid Hugging Face Llama checkpoint with seeded random weights ({@link RandomTensor#forWeight}),
 * for tests, samples and scale runs. Tensors are produced in chunks of at most {@value #CHUNK_ELEMENTS}
 * values, so even Llama-3.1-8B shapes generate in bounded memory. The same seed gives the same checkpoint.
 */
public final class RandomCheckpoint {
  static final int CHUNK_ELEMENTS = 4 << 20;
  private static final Logger LOG = LoggerFactory.getLogger(RandomCheckpoint.class);

  private RandomCheckpoint() {}

  /** Generates and commits a checkpoint at {@code directory} with 5 GB shards, refusing to overwrite. */
  public static void generate(Storage storage, String directory, LlamaConfig config, DType dtype, long seed) {
    generate(storage, directory, config, dtype, seed, CheckpointWriter.DEFAULT_MAX_SHARD_BYTES, false);
  }

  /** Generates and commits a checkpoint at {@code directory}. */
  public static void generate(Storage storage, String directory, LlamaConfig config, DType dtype, long seed,
      long maxShardBytes, boolean overwrite) {
    long start = System.nanoTime();
    try (CheckpointWriter writer = CheckpointWriter.create(storage, directory, config, dtype, maxShardBytes, overwrite)) {
      for (Map.Entry<String, long[]> e : LlamaTensors.expectedShapes(config).entrySet()) {
        writeTensor(writer, seed, e.getKey(), e.getValue());
      }
      writer.commit();
    }
    LOG.info("Generated {} ({} parameters, {}) in {} s", directory, config.parameterCount(), dtype,
        String.format("%.1f", (System.nanoTime() - start) / 1e9));
  }

  private static void writeTensor(CheckpointWriter writer, long seed, String name, long[] shape) {
    RandomTensor values = RandomTensor.forWeight(seed, name, shape);
    long rows = shape[0];
    long rowLength = TensorInfo.elementCount(shape) / Math.max(rows, 1);
    if (shape.length == 1 || rowLength == 0) {
      writer.write(name, values.next(Math.toIntExact(TensorInfo.elementCount(shape))));
      return;
    }
    long rowsPerChunk = Math.max(1, CHUNK_ELEMENTS / rowLength);
    float[] chunk = null;
    for (long row = 0; row < rows; row += rowsPerChunk) {
      int count = Math.toIntExact(Math.min(rowsPerChunk, rows - row) * rowLength);
      if (chunk == null || chunk.length != count) {
        chunk = new float[count];
      }
      values.fill(chunk, 0, count);
      writer.writeRows(name, chunk);
    }
  }
}
