package dev.distillery.jobs.evaluate;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.StageOptions;
import dev.distillery.jobs.run.RunLayout;
import java.io.Serializable;
import java.util.List;

/**
 * The validated configuration of EvaluateJob, resolved to concrete paths.
 *
 * @param model the HF checkpoint evaluated
 * @param name what the checkpoint is in this run (teacher, pruned, distilled, scratch); names the output file
 * @param tokens the token split the loss is measured on
 * @param output the JSON file written
 * @param maxSequences sequences evaluated at most (0: all)
 * @param batchSize sequences per forward pass
 * @param partitions Spark tasks (0: the default parallelism)
 * @param chunkTokens positions projected through lm_head at once
 * @param tokenizer tokenizer.json for the generations, or null for none
 * @param prompts prompts continued by greedy decoding
 * @param maxNew tokens generated per prompt at most
 * @param overwrite replace an existing output
 */
public record EvaluateSettings(String model, String name, String tokens, String output, int maxSequences,
    int batchSize, int partitions, int chunkTokens, String tokenizer, List<String> prompts, int maxNew,
    boolean overwrite) implements Serializable {
  /** Paths made absolute on the driver, where the settings are made: the tasks run elsewhere. */
  public EvaluateSettings {
    model = Storage.absolute(model);
    tokens = Storage.absolute(tokens);
    output = Storage.absolute(output);
    tokenizer = Storage.absolute(tokenizer);
  }

  static final ConfigOption<String> MODEL = ConfigOption.string("model").required()
      .doc("The Hugging Face checkpoint to evaluate (any Hadoop file system).");
  static final ConfigOption<String> NAME = ConfigOption.string("name").required()
      .check(n -> n.matches("[A-Za-z0-9_.-]+"), "letters, digits, '.', '_' or '-'")
      .doc("What the checkpoint is in this run, e.g. teacher, pruned, distilled, scratch; the output is "
          + "RUN/eval/NAME.json.");
  static final ConfigOption<String> TOKENS = StageOptions.TOKENS
      .doc("Token shards (Parquet, column input_ids) the loss is measured on; default RUN/tokens/valid.");
  static final ConfigOption<Integer> MAX_SEQUENCES = ConfigOption.integer("max-sequences").defaultValue(0).atLeast(0)
      .doc("Sequences evaluated at most, the first ones in file order; 0 evaluates all.");
  static final ConfigOption<Integer> BATCH = ConfigOption.integer("batch-size").defaultValue(4).atLeast(1)
      .doc("Sequences per forward pass.");
  static final ConfigOption<Integer> PARTITIONS = ConfigOption.integer("partitions").defaultValue(0).atLeast(0)
      .doc("Spark tasks; 0 uses the default parallelism. The model is loaded once per executor.");
  static final ConfigOption<Integer> CHUNK = ConfigOption.integer("chunk-tokens").defaultValue(512).atLeast(1)
      .doc("Positions projected through lm_head at once: bounds the vocab-size logits alive at once.");
  static final ConfigOption<String> TOKENIZER = ConfigOption.string("tokenizer")
      .doc("tokenizer.json (local or on any Hadoop file system, e.g. s3a://) for the greedy generations; unset: no "
          + "generations.");
  static final ConfigOption<List<String>> PROMPTS = ConfigOption.stringList("prompts")
      .defaultValue(List.of("The game was released in", "The city is located", "In 1995 the band"))
      .doc("Prompts continued by greedy decoding: a YAML list (commas stay inside a prompt), or comma-separated.");
  static final ConfigOption<Integer> MAX_NEW = ConfigOption.integer("max-new").defaultValue(24).atLeast(1)
      .doc("Tokens generated per prompt at most (stops at the model's EOS token).");
  static final ConfigOption<Boolean> OVERWRITE = ConfigOption.bool("overwrite").defaultValue(false)
      .doc("Replace an existing RUN/eval/NAME.json (by default an existing evaluation makes the run a no-op).");

  /** The options of {@code evaluate}. */
  public static final ConfigSchema SCHEMA = new ConfigSchema("evaluate",
      "Loss and perplexity of a checkpoint on the valid split (Spark), plus greedy generations, into "
          + "RUN/eval/NAME.json.", StageOptions.RUN, MODEL, NAME, TOKENS, MAX_SEQUENCES, BATCH, PARTITIONS, CHUNK,
          TOKENIZER,
      PROMPTS, MAX_NEW, OVERWRITE);

  /** Resolves defaults against the run directory. */
  public static EvaluateSettings from(Config c) {
    String run = c.get(StageOptions.RUN);
    String name = c.get(NAME);
    String tokens = c.isSet(TOKENS) ? c.get(TOKENS) : new RunLayout(run).tokens("valid");
    List<String> prompts = c.get(PROMPTS);
    return new EvaluateSettings(c.get(MODEL), name, tokens, new RunLayout(run).evaluation(name), c.get(MAX_SEQUENCES),
        c.get(BATCH), c.get(PARTITIONS), c.get(CHUNK), c.get(TOKENIZER), prompts, c.get(MAX_NEW), c.get(OVERWRITE));
  }
}
