package dev.distillery.jobs.tools;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.SafetensorsWriter;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.command.ModelOptions;
import dev.distillery.model.LlamaModel;
import java.io.IOException;
import java.io.PrintStream;

/** {@code distillery logits}: the model's logits for a batch of token ids, as a safetensors file. */
public final class LogitsCommand implements Command {
  static final ConfigOption<String> TOKENS = ConfigOption.string("tokens").required()
      .doc("JSON file holding an array of equal-length arrays of token ids, e.g. [[1, 2, 3], [4, 5, 6]].");
  static final ConfigOption<String> OUT = ConfigOption.string("output").deprecatedAlias("out").required()
      .doc("Output .safetensors file; holds one F32 tensor 'logits' of shape [batch, seq, vocab].");

  private static final ConfigSchema SCHEMA = new ConfigSchema("logits",
      "Run the forward pass on token ids and write the logits (for checks against other implementations).",
      ModelOptions.MODEL, TOKENS, OUT, ModelOptions.DEVICE, ModelOptions.DTYPE);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) throws IOException {
    String dir = config.get(ModelOptions.MODEL);
    String tokensFile = config.get(TOKENS);
    String target = config.get(OUT);
    Storage outStorage = Storage.of(target);
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(dir), dir)) {
      long[][] batch = readTokens(Storage.of(tokensFile).readText(tokensFile), tokensFile, reader.config().vocabSize());
      try (LlamaModel model = LlamaModel.load(reader.config(), (name, shape) -> reader.readFloats(name),
              ModelOptions.device(config.get(ModelOptions.DEVICE)),
              ModelOptions.dataType(config.get(ModelOptions.DTYPE)));
          NDManager manager = NDManager.newBaseManager(model.device())) {
        NDArray tokens = manager.create(batch);
        NDArray logits = model.forward(tokens);
        outStorage.replace(target, temp -> {
          try (SafetensorsWriter writer = new SafetensorsWriter(outStorage, temp)) {
            writer.declare("logits", DType.F32, logits.getShape().getShape());
            writer.write("logits", logits.toFloatArray());
          }
        });
      }
    }
  }

  /** Parses and checks the token file: a non-empty array of equal-length arrays of ids in [0, vocab). */
  static long[][] readTokens(String json, String file, int vocabSize) throws IOException {
    JsonNode root = new ObjectMapper().readTree(json);
    if (root == null || !root.isArray() || root.isEmpty()) {
      throw new IllegalArgumentException(file + ": expected a non-empty JSON array of token-id arrays");
    }
    long[][] batch = new long[root.size()][];
    for (int b = 0; b < root.size(); b++) {
      JsonNode row = root.get(b);
      if (!row.isArray() || row.isEmpty()) {
        throw new IllegalArgumentException(file + ": entry " + b + " must be a non-empty array of token ids");
      }
      if (row.size() != root.get(0).size()) {
        throw new IllegalArgumentException(file + ": entry " + b + " has " + row.size()
            + " tokens but entry 0 has " + root.get(0).size() + "; all sequences must have the same length");
      }
      batch[b] = new long[row.size()];
      for (int t = 0; t < row.size(); t++) {
        JsonNode id = row.get(t);
        if (!id.canConvertToLong() || !id.isIntegralNumber() || id.asLong() < 0 || id.asLong() >= vocabSize) {
          throw new IllegalArgumentException(file + ": entry " + b + ", position " + t + ": token id " + id
              + " is not an integer in [0, " + vocabSize + ")");
        }
        batch[b][t] = id.asLong();
      }
    }
    return batch;
  }
}
