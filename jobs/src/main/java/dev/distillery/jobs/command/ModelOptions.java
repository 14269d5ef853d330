package dev.distillery.jobs.command;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.distillery.config.ConfigOption;

/** Options shared by the commands that run a model. */
public final class ModelOptions {
  public static final ConfigOption<String> MODEL = ConfigOption.string("model").required()
      .doc("Hugging Face checkpoint directory (config.json + *.safetensors), on any Hadoop file system.");
  public static final ConfigOption<String> DEVICE = ConfigOption.string("device").defaultValue("cpu")
      .check(DeviceNames::isDevice, DeviceNames.ACCEPTED)
      .doc("Where the forward pass runs.");
  public static final ConfigOption<String> DTYPE = ConfigOption.dtype("dtype", "float32", "float16")
      .defaultValue("float32")
      .doc("Parameter dtype (BF16 checkpoints are converted on load). float16 halves the weights' memory; it "
          + "computes in float16 on a GPU and in float32 on the CPU (each layer's weights widened as it runs).");

  private ModelOptions() {}

  /** The device a {@link #DEVICE} value names. */
  public static Device device(String name) {
    return DeviceNames.parse(name);
  }

  public static DataType dataType(String name) {
    return name.equals("float16") ? DataType.FLOAT16 : DataType.FLOAT32;
  }
}
