package dev.distillery.jobs.pipeline;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.RandomCheckpoint;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.model.LlamaConfig;
import java.io.PrintStream;

/**
 * Pipeline step: a seeded random checkpoint with exactly the pruned student's architecture, the starting point of
 * the from-scratch baseline.
 */
final class ScratchInitCommand implements Command {
  static final ConfigOption<String> LIKE = ConfigOption.string("like").required()
      .doc("Checkpoint whose architecture is copied (the pruned student).");
  static final ConfigOption<String> OUT = ConfigOption.string("output").deprecatedAlias("out").required()
      .doc("Checkpoint directory to write, committed atomically.");
  static final ConfigOption<Long> SEED = ConfigOption.longInteger("seed").defaultValue(7L).doc("Random seed.");

  private static final ConfigSchema SCHEMA = new ConfigSchema("scratch-init",
      "A random checkpoint shaped like another one (the from-scratch baseline's start).", LIKE, OUT, SEED);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) {
    String like = config.get(LIKE);
    LlamaConfig shape;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(like), like)) {
      shape = reader.config().withTorchDtype("float32");
    }
    String target = config.get(OUT);
    RandomCheckpoint.generate(Storage.of(target), target, shape, DType.F32, config.get(SEED));
    out.printf("wrote %s: %,d parameters, random, shaped like %s%n", target, shape.parameterCount(), like);
  }
}
