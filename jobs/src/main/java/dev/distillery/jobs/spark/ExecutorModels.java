package dev.distillery.jobs.spark;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Read-only models (the teacher, a checkpoint under evaluation), loaded once per executor JVM, device and dtype and
 * kept in the {@link ExecutorCache} under one key scheme, so one checkpoint is one entry whichever stage asks. Tasks
 * sharing one must hold its monitor while their taps are registered ({@code synchronized (model)}).
 */
public final class ExecutorModels {
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorModels.class);

  private ExecutorModels() {}

  /**
   * The model in {@code directory} on {@code device}, held until the calling task ends.
   *
   * @param fingerprint the checkpoint's fingerprint, so a checkpoint replaced at the same path is loaded anew
   */
  public static LlamaModel get(String directory, String fingerprint, Device device, DataType dataType) {
    return ExecutorCache.get(key(directory, fingerprint, device, dataType), device,
        () -> bytes(directory, dataType), () -> load(directory, device, dataType));
  }

  /** The cache key of a model: its qualified path, fingerprint, device and dtype. */
  static String key(String directory, String fingerprint, Device device, DataType dataType) {
    return "model|" + Storage.of(directory).qualify(directory) + "|" + fingerprint + "|" + device + "|" + dataType;
  }

  /** The bytes the parameters of the model in {@code directory} take in {@code dataType}. */
  static long bytes(String directory, DataType dataType) {
    try (CheckpointReader reader = CheckpointReader.open(directory)) {
      return reader.config().parameterCount() * dataType.getNumOfBytes();
    }
  }

  static LlamaModel load(String directory, Device device, DataType dataType) {
    long start = System.nanoTime();
    try (CheckpointReader reader = CheckpointReader.open(directory)) {
      LlamaModel model = LlamaModel.load(reader.config(), (name, shape) -> reader.readFloats(name), device, dataType);
      LOG.info("Loaded {} on {} in {} s", directory, device, String.format("%.1f", (System.nanoTime() - start) / 1e9));
      return model;
    }
  }
}
