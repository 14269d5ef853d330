package dev.distillery.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.distillery.cli.Command;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.evaluate.EvaluateSettings;
import dev.distillery.io.Storage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a pipeline YAML file into the stages to run, validating all of it before anything runs. The file has shared
 * top-level keys ({@code run}, {@code corpus}, {@code tokenizer}, {@code teacher}) and one section per stage whose
 * keys are exactly that command's options. Shared keys are injected into every stage whose command has the option;
 * the paths that connect the stages (outputs, inputs, metrics) are fixed by the pipeline and may not be set.
 */
final class PipelinePlanner {
  static final List<String> SHARED_KEYS = List.of("run", "corpus", "tokenizer", "teacher");
  static final List<String> SECTIONS = List.of("tokenize", "teacher-init", "teacher-training", "calibrate", "plan",
      "prune", "distill", "scratch", "evaluate", "report");
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private final Map<String, Command> commands;
  private final String source;
  private final List<String> problems = new ArrayList<>();
  private final List<PlannedStage> stages = new ArrayList<>();
  private final ObjectNode root;
  private final String run;

  private PipelinePlanner(Map<String, Command> commands, String yamlText, String source) {
    this.commands = commands;
    this.source = source;
    this.root = parse(yamlText, source);
    this.run = root.hasNonNull("run") ? root.get("run").asText() : null;
  }

  /**
   * The stages of the pipeline described by {@code yamlText}, in run order.
   *
   * @param commands every command by name ({@code tokenize}, {@code distill}, ...)
   * @param source the file's name, for error messages
   * @throws ConfigException listing every problem in the file
   */
  static List<PlannedStage> plan(Map<String, Command> commands, String yamlText, String source) {
    PipelinePlanner planner = new PipelinePlanner(commands, yamlText, source);
    if (planner.checkTopLevel()) {
      planner.planStages();
    }
    if (!planner.problems.isEmpty()) {
      throw new ConfigException("Invalid pipeline " + source + ":\n  - " + String.join("\n  - ", planner.problems));
    }
    return List.copyOf(planner.stages);
  }

  private static ObjectNode parse(String yamlText, String source) {
    try {
      JsonNode node = YAML.readTree(yamlText);
      if (node == null || !node.isObject()) {
        throw new ConfigException(source + ": expected a YAML mapping (run, corpus, tokenizer, stage sections)");
      }
      return (ObjectNode) node;
    } catch (IOException e) {
      throw new ConfigException(source + ": not valid YAML: " + e.getMessage().lines().findFirst().orElse(""));
    }
  }

  /** Checks the top-level keys; returns whether the stages can be planned (every section is then checked too). */
  private boolean checkTopLevel() {
    boolean plannable = true;
    for (Iterator<String> keys = root.fieldNames(); keys.hasNext(); ) {
      String key = keys.next();
      if (key.equals("rounds")) {
        problems.add("'rounds' (several compression rounds in one file) is not supported yet; run one round per "
            + "pipeline file, with the previous round's student as 'teacher'");
      } else if (!SHARED_KEYS.contains(key) && !SECTIONS.contains(key)) {
        problems.add("unknown key '" + key + "'; top-level keys are " + SHARED_KEYS + " and the sections " + SECTIONS);
      } else if (SECTIONS.contains(key) && !root.get(key).isObject() && !root.get(key).isNull()) {
        problems.add("section '" + key + "' must be a mapping of " + key + " options");
        plannable = false;
      }
    }
    for (String required : List.of("run", "corpus", "tokenizer")) {
      if (!root.hasNonNull(required)) {
        problems.add("'" + required + "' is required");
        plannable = false;
      }
    }
    if (root.hasNonNull("teacher") == root.has("teacher-init")) {
      problems.add("set exactly one of 'teacher' (an existing HF checkpoint) and 'teacher-init' (a random teacher, "
          + "then trained by 'teacher-training')");
      plannable = false;
    }
    return plannable;
  }

  private void planStages() {
    add("tokenize", "tokenize", "tokenize", in("tokens"), false, Map.of("input", root.get("corpus").asText()));
    String teacher = root.hasNonNull("teacher") ? root.get("teacher").asText() : in("teacher-init");
    if (root.has("teacher-init")) {
      add("teacher-init", "teacher-init", "random-checkpoint", teacher, false, Map.of("out", teacher));
    }
    if (root.has("teacher-training")) {
      String trained = in("teacher");
      add("teacher-training", "teacher-training", "distill", trained, false, Map.of("student", teacher, "output",
          trained, "loss", "ce", "checkpoints", in("teacher-checkpoints"), "metrics", in("metrics/teacher.jsonl")));
      teacher = trained;
    }
    Map<String, Object> withTeacher = Map.of("teacher", teacher);
    add("calibrate", "calibrate", "calibrate", in("importance"), false, withTeacher);
    add("plan", "plan", "plan", in("prune-plan.json"), true, Map.of());
    add("prune", "prune", "prune", in("student-init"), false, withTeacher);
    Config distill = add("distill", "distill", "distill", in("student"), false, Map.of("teacher", teacher, "student",
        in("student-init"), "output", in("student"), "metrics", in("metrics/distill.jsonl")));
    boolean scratch = root.has("scratch");
    if (scratch && distill != null) {
      Map<String, Object> budget = distill.effective();
      add("scratch-init", null, "scratch-init", in("scratch-init"), false,
          Map.of("like", in("student-init"), "out", in("scratch-init")));
      add("scratch", "scratch", "distill", in("scratch"), false, Map.of("student", in("scratch-init"), "output",
          in("scratch"), "loss", "ce", "checkpoints", in("scratch-checkpoints"), "metrics", in("metrics/scratch.jsonl"),
          "steps", budget.get("steps"), "global-batch", budget.get("global-batch")));
    }
    Map<String, String> evaluated = new LinkedHashMap<>();
    evaluated.put("teacher", teacher);
    evaluated.put("pruned", in("student-init"));
    evaluated.put("distilled", in("student"));
    if (scratch) {
      evaluated.put("scratch", in("scratch"));
    }
    evaluated.forEach((name, model) -> add("evaluate " + name, "evaluate", "evaluate",
        EvaluateSettings.outputFile(run, name), true, Map.of("model", model, "name", name)));
    add("report", "report", "report", in("report"), false, Map.of());
  }

  private String in(String child) {
    return Storage.resolve(run, child);
  }

  /**
   * Resolves one stage's configuration (section + shared keys + fixed keys) and adds it; returns the configuration,
   * or null when it is invalid (the problems are recorded).
   */
  private Config add(String stage, String section, String commandName, String output, boolean outputIsFile,
      Map<String, Object> fixed) {
    Command command = commandName.equals("scratch-init") ? new ScratchInitCommand() : commands.get(commandName);
    ConfigSchema schema = command.schema();
    ObjectNode values = JsonNodeFactory.instance.objectNode();
    for (ConfigOption<?> option : schema.options()) {
      if (SHARED_KEYS.contains(option.key()) && root.hasNonNull(option.key())) {
        values.set(option.key(), root.get(option.key()));
      }
    }
    JsonNode sectionNode = section == null ? null : root.get(section);
    if (sectionNode != null && sectionNode.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> fields = sectionNode.fields(); fields.hasNext(); ) {
        Map.Entry<String, JsonNode> field = fields.next();
        if (fixed.containsKey(field.getKey())) {
          problems.add("section '" + section + "': key '" + field.getKey() + "' is set by the pipeline (to "
              + fixed.get(field.getKey()) + ")");
        }
        values.set(field.getKey(), field.getValue());
      }
    }
    fixed.forEach((key, value) -> values.set(key, YAML.valueToTree(value)));
    String origin = source + (section == null ? "" : " section '" + section + "'");
    try {
      Config config = Config.resolve(schema, YAML.writeValueAsString(values), origin, List.of());
      stages.add(new PlannedStage(stage, command, config, output, outputIsFile));
      return config;
    } catch (ConfigException e) {
      problems.add("stage '" + stage + "' (" + origin + "): " + e.getMessage().replace("\n", "\n    "));
      return null;
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
