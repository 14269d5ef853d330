package dev.distillery.spark;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.distillery.io.CheckpointReader;
import dev.distillery.model.LlamaModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The teacher, loaded once per executor JVM and device and kept for the JVM's life. Tasks sharing one must hold its
 * monitor while their taps are registered ({@code synchronized (model)}).
 */
public final class TeacherModels {
  private static final Logger LOG = LoggerFactory.getLogger(TeacherModels.class);

  private TeacherModels() {}

  /**
   * The teacher in {@code directory} on {@code device}.
   *
   * @param fingerprint the checkpoint's fingerprint, so a checkpoint replaced at the same path is loaded anew
   */
  public static LlamaModel get(String directory, String fingerprint, Device device, DataType dataType) {
    String key = "teacher|" + directory + "|" + fingerprint + "|" + device + "|" + dataType;
    return ExecutorCache.get(key, () -> {
      long start = System.nanoTime();
      try (CheckpointReader reader = CheckpointReader.open(directory)) {
        LlamaModel model = LlamaModel.load(reader.config(), (name, shape) -> reader.readFloats(name), device,
            dataType);
        LOG.info("Loaded teacher {} on {} in {} s", directory, device,
            String.format("%.1f", (System.nanoTime() - start) / 1e9));
        return model;
      }
    });
  }
}
