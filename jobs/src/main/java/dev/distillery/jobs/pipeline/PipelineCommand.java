package dev.distillery.jobs.pipeline;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.command.Command;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * {@code distillery pipeline FILE.yaml}: one file describes a whole run; the stages run in order (tokenize, teacher
 * training, calibrate, plan, prune, distill, the from-scratch baseline, evaluate, report), each skipped when its
 * committed output exists. The whole file is validated before any stage runs.
 */
public final class PipelineCommand implements Command {
  static final ConfigOption<String> FILE = ConfigOption.string("file").required()
      .doc("The pipeline YAML: shared keys run, corpus, tokenizer, teacher (or teacher-init), and one section per "
          + "stage (tokenize, teacher-init, teacher-training, calibrate, plan, prune, distill, scratch, evaluate, "
          + "report) whose keys are that command's options; 'rounds' lists further compression rounds (teacher: "
          + "original | previous, calibrate, plan, prune, distill; under RUN/round-N/). Also accepted as "
          + "'pipeline FILE' or '--config FILE'.");
  static final ConfigOption<Boolean> DRY_RUN = ConfigOption.bool("dry-run").defaultValue(false)
      .doc("Validate the file and list the stages (with 'skipped: committed' where done) without running any.");

  private static final ConfigSchema SCHEMA = new ConfigSchema("pipeline",
      "Run every stage described by one YAML file, skipping stages whose committed output exists.", FILE, DRY_RUN);

  private final Map<String, Command> commands;

  /** @param commands the commands the stages run, by name */
  public PipelineCommand(Map<String, Command> commands) {
    this.commands = commands;
  }

  /** Rewrites {@code FILE} and {@code --config FILE} into {@code --file FILE}. */
  public static String[] normalizeArguments(String[] args) {
    String[] result = args.clone();
    if (result.length > 0 && !result[0].startsWith("--")) {
      String[] withFlag = new String[result.length + 1];
      withFlag[0] = "--file";
      System.arraycopy(result, 0, withFlag, 1, result.length);
      return withFlag;
    }
    return Arrays.stream(result).map(a -> a.equals("--config") ? "--file" : a.startsWith("--config=")
        ? "--file=" + a.substring("--config=".length()) : a).toArray(String[]::new);
  }

  /**
   * Checks a pipeline file without touching its storage and returns the names of its stages in run order.
   *
   * @throws ConfigException listing every problem in the file
   */
  public List<String> validate(String yamlText, String source) {
    return PipelinePlanner.plan(commands, yamlText, source).stream().map(PlannedStage::name).toList();
  }

  /**
   * The resolved configuration of one stage of a pipeline file (its section, the shared keys and the paths the
   * pipeline fixes), or empty when the file has no such stage.
   *
   * @throws ConfigException listing every problem in the file
   */
  public java.util.Optional<Config> stageConfig(String yamlText, String source, String stage) {
    return PipelinePlanner.plan(commands, yamlText, source).stream().filter(s -> s.name().equals(stage))
        .map(PlannedStage::config).findFirst();
  }

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) {
    String file = config.get(FILE);
    List<PlannedStage> stages = PipelinePlanner.plan(commands, read(file), file);
    if (config.get(DRY_RUN)) {
      stages.forEach(s -> out.printf("%-20s %-18s %s%s%n", s.name(), s.command().schema().name(), s.output(),
          s.isDone() ? "  (skipped: committed)" : ""));
      return;
    }
    List<PipelineRunner.Outcome> outcomes = PipelineRunner.run(stages, out);
    out.println();
    out.print(PipelineRunner.summary(outcomes));
  }

  private static String read(String file) {
    try {
      return Files.readString(Path.of(file), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigException("cannot read pipeline file '" + file + "': " + e);
    }
  }
}
