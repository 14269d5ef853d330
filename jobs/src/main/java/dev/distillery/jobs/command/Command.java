package dev.distillery.jobs.command;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigSchema;
import java.io.PrintStream;

/** A {@code distillery} sub-command: a job or a model tool, with its typed configuration. */
public interface Command {
  /** The options this command takes; its name is the sub-command's name. */
  ConfigSchema schema();

  /**
   * Runs the command, printing its result to {@code out} (logs go through SLF4J). Exceptions become a
   * one-line error and a non-zero exit status.
   */
  void run(Config config, PrintStream out) throws Exception;

  /**
   * The options its command line accepts: those of {@link #schema()} (which the reference documents), or more.
   */
  default ConfigSchema commandLine() {
    return schema();
  }

  /**
   * Runs the cross-option checks of {@link #run} without touching storage, so that {@code pipeline} can check every
   * stage before the first one starts. The default has none beyond the schema's.
   *
   * @throws ConfigException naming the options and what was expected
   */
  default void validate(Config config) {}
}
