package dev.distillery.jobs.tools;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.Storage;
import dev.distillery.io.TensorInfo;
import dev.distillery.jobs.command.Command;
import dev.distillery.model.LlamaConfig;
import java.io.PrintStream;
import java.util.Map;
import java.util.TreeMap;

/** {@code distillery inspect}: a checkpoint's config, parameter count, dtypes and shards. */
public final class InspectCommand implements Command {
  static final ConfigOption<String> MODEL = ConfigOption.string("model").required()
      .doc("Hugging Face checkpoint directory (config.json + *.safetensors), on any Hadoop file system.");
  static final ConfigOption<Boolean> TENSORS = ConfigOption.bool("tensors").defaultValue(false)
      .doc("Also list every tensor with its dtype and shape.");

  private static final ConfigSchema SCHEMA = new ConfigSchema("inspect",
      "Show a checkpoint's architecture, parameter count, dtypes and shards (reads headers only).", MODEL, TENSORS);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) {
    String dir = config.get(MODEL);
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(dir), dir)) {
      LlamaConfig c = reader.config();
      StringBuilder report = new StringBuilder();
      report.append("checkpoint   ").append(dir).append('\n');
      report.append(String.format("architecture %s: %d layers, hidden %d, FFN %d, heads %d (KV %d, head_dim %d),"
              + " vocab %d%s%n", c.architecture().family().className(), c.numHiddenLayers(), c.hiddenSize(), c.intermediateSize(), c.numAttentionHeads(),
          c.numKeyValueHeads(), c.headDim(), c.vocabSize(),
          c.architecture().hasSlidingWindow() ? ", sliding window " + c.architecture().slidingWindow() : ""));
      report.append(String.format("             rms_norm_eps %s, rope_theta %s, rope_scaling %s, tied embeddings %s%n",
          c.rmsNormEps(), c.ropeTheta(), c.ropeScaling() == null ? "none" : String.format("llama3 (factor %s, low %s, high %s, original %d)",
              c.ropeScaling().factor(), c.ropeScaling().lowFreqFactor(), c.ropeScaling().highFreqFactor(),
              c.ropeScaling().originalMaxPositionEmbeddings()),
          c.tieWordEmbeddings()));

      long parameters = 0;
      long bytes = 0;
      Map<DType, Long> perDtype = new TreeMap<>();
      for (String name : reader.tensorNames()) {
        TensorInfo info = reader.info(name);
        parameters += info.elementCount();
        bytes += info.byteLength();
        perDtype.merge(info.dtype(), info.elementCount(), Long::sum);
      }
      report.append(String.format("parameters   %,d (%.2fB); config says %,d%n", parameters, parameters / 1e9,
          c.parameterCount()));
      report.append("dtypes       ").append(perDtype).append(" (torch_dtype ").append(c.torchDtype()).append(")\n");
      report.append(String.format("shards       %d file(s), %.2f GB of tensor data%n", reader.shardFiles().size(),
          bytes / 1e9));
      for (String shard : reader.shardFiles()) {
        report.append("             ").append(shard).append('\n');
      }
      if (config.get(TENSORS)) {
        for (String name : reader.tensorNames()) {
          TensorInfo info = reader.info(name);
          report.append(String.format("  %-55s %-5s %s%n", name, info.dtype(), java.util.Arrays.toString(info.shape())));
        }
      }
      out.print(report);
    }
  }
}
