package dev.distillery.jobs.pipeline;

import dev.distillery.config.Config;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;

/**
 * One stage of a pipeline run: a command with its resolved configuration and the output whose existence means the
 * stage is done.
 *
 * @param name the stage's name in logs and the summary
 * @param command what runs
 * @param config the command's configuration: its section, the shared keys and the paths the pipeline fixes
 * @param output the stage's output: a committed directory, or a file
 * @param outputIsFile whether {@code output} is a file (done when it exists) rather than a committed directory
 */
record PlannedStage(String name, Command command, Config config, String output, boolean outputIsFile) {
  /** Whether the stage's output is already there (committed). */
  boolean isDone() {
    Storage storage = Storage.of(output);
    return outputIsFile ? storage.exists(output) : storage.isCommitted(output);
  }
}
