package dev.distillery.jobs.tools;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.command.ModelOptions;
import dev.distillery.model.LlamaModel;
import dev.distillery.tokenize.LocalTokenizerCopy;
import dev.distillery.tokenize.TextTokenizer;
import java.io.PrintStream;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code distillery generate}: greedy decoding from a prompt. */
public final class GenerateCommand implements Command {
  private static final Logger LOG = LoggerFactory.getLogger(GenerateCommand.class);

  static final ConfigOption<String> TOKENIZER = ConfigOption.string("tokenizer").required()
      .doc("Hugging Face tokenizer.json (local or on any Hadoop file system, e.g. s3a://).");
  static final ConfigOption<String> PROMPT = ConfigOption.string("prompt").required().doc("Text to continue.");
  static final ConfigOption<Integer> MAX_NEW = ConfigOption.integer("max-new").defaultValue(32).atLeast(1)
      .doc("Tokens to generate at most; generation also stops at the model's EOS token.");

  private static final ConfigSchema SCHEMA = new ConfigSchema("generate",
      "Continue a prompt with greedy decoding and print the text.", ModelOptions.MODEL, TOKENIZER, PROMPT, MAX_NEW,
      ModelOptions.DEVICE, ModelOptions.DTYPE);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) {
    String dir = config.get(ModelOptions.MODEL);
    try (TextTokenizer tokenizer = TextTokenizer.load(LocalTokenizerCopy.of(config.get(TOKENIZER)), true);
        CheckpointReader reader = CheckpointReader.open(Storage.of(dir), dir);
        LlamaModel model = LlamaModel.load(reader.config(), (name, shape) -> reader.readFloats(name),
            ModelOptions.device(config.get(ModelOptions.DEVICE)), ModelOptions.dataType(config.get(ModelOptions.DTYPE)));
        NDManager manager = NDManager.newBaseManager(model.device())) {
      long[] prompt = tokenizer.encode(config.get(PROMPT));
      long[] ids = Arrays.copyOf(prompt, prompt.length + config.get(MAX_NEW));
      int length = prompt.length;
      long start = System.nanoTime();
      while (length < ids.length) {
        long next = nextToken(model, manager, Arrays.copyOf(ids, length));
        ids[length++] = next;
        if (next == model.config().eosTokenId()) {
          break;
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      LOG.info("generated {} tokens in {} s ({} tokens/s)", length - prompt.length, String.format("%.2f", seconds),
          String.format("%.2f", (length - prompt.length) / seconds));
      out.println(tokenizer.decode(Arrays.copyOf(ids, length), true));
    }
  }

  private static long nextToken(LlamaModel model, NDManager manager, long[] context) {
    try (NDManager step = manager.newSubManager()) {
      NDArray tokens = step.create(context).reshape(1, context.length);
      NDArray logits = model.forward(tokens);
      return logits.get(new NDIndex("0, -1, :")).argMax().toLongArray()[0];
    }
  }
}
