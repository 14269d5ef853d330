package dev.distillery.jobs.command;

import dev.distillery.config.ConfigOption;

/** The options several stages share, declared once so that they mean and read the same in every command. */
public final class StageOptions {
  /** The run directory every stage reads from and writes to. */
  public static final ConfigOption<String> RUN = ConfigOption.string("run").required()
      .doc("Run directory on any Hadoop file system; the stage's inputs and outputs default to paths under it.");
  /** The teacher checkpoint. */
  public static final ConfigOption<String> TEACHER = ConfigOption.string("teacher").required()
      .doc("Teacher checkpoint directory (Hugging Face: config.json + *.safetensors), on any Hadoop file system.");
  /**
   * Token shards written by {@code tokenize}; which directory of its output a command reads (the output or one
   * split) its documentation says.
   */
  public static final ConfigOption<String> TOKENS = ConfigOption.string("tokens")
      .doc("Token shards written by tokenize (Parquet, column input_ids).");

  private StageOptions() {}
}
