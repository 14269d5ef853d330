package dev.distillery.jobs.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.run.RunLayout;
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
 * the paths that connect the stages (outputs, inputs, metrics) are fixed by the pipeline and may not be set. Each
 * stage's cross-option checks ({@link Command#validate}) run here too, so a bad setting fails before the first stage.
 * A {@code teacher-logits} section runs that job after {@code prune} and makes {@code distill} (and the rounds that
 * distil from the original teacher) train from the stored distributions.
 */
final class PipelinePlanner {
  static final List<String> SHARED_KEYS = List.of("run", "corpus", "tokenizer", "teacher");
  static final List<String> SECTIONS = List.of("tokenize", "teacher-init", "teacher-training", "calibrate", "plan",
      "prune", "teacher-logits", "distill", "scratch", "evaluate", "report");
  static final List<String> ROUND_KEYS = List.of("teacher", "calibrate", "plan", "prune", "distill");
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private final Map<String, Command> commands;
  private final String source;
  private final List<String> problems = new ArrayList<>();
  private final List<PlannedStage> stages = new ArrayList<>();
  private final ObjectNode root;
  private final RunLayout layout;

  private PipelinePlanner(Map<String, Command> commands, String yamlText, String source) {
    this.commands = commands;
    this.source = source;
    this.root = parse(yamlText, source);
    this.layout = root.hasNonNull("run") ? new RunLayout(root.get("run").asText()) : null;
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
        plannable &= checkRounds(root.get(key));
      } else if (!SHARED_KEYS.contains(key) && !SECTIONS.contains(key)) {
        problems.add("unknown key '" + key + "'; top-level keys are " + SHARED_KEYS + ", 'rounds' and the sections "
            + SECTIONS);
      } else if (SHARED_KEYS.contains(key) && root.get(key).isContainerNode()) {
        problems.add("'" + key + "' must be a path, not a " + (root.get(key).isArray() ? "list" : "mapping"));
        plannable = false;
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

  private boolean checkRounds(JsonNode rounds) {
    if (!rounds.isArray()) {
      problems.add("'rounds' must be a list of rounds, each a mapping with the keys " + ROUND_KEYS);
      return false;
    }
    boolean valid = true;
    for (int i = 0; i < rounds.size(); i++) {
      String where = "rounds[" + i + "] (round " + (i + 2) + ")";
      JsonNode round = rounds.get(i);
      if (!round.isObject()) {
        problems.add(where + " must be a mapping with the keys " + ROUND_KEYS);
        valid = false;
        continue;
      }
      for (Iterator<String> keys = round.fieldNames(); keys.hasNext(); ) {
        String key = keys.next();
        if (!ROUND_KEYS.contains(key)) {
          problems.add(where + ": unknown key '" + key + "'; a round has the keys " + ROUND_KEYS);
        } else if (!key.equals("teacher") && !round.get(key).isObject()) {
          problems.add(where + ": section '" + key + "' must be a mapping of " + key + " options");
          valid = false;
        }
      }
      String teacher = round.path("teacher").asText("previous");
      if (!teacher.equals("previous") && !teacher.equals("original")) {
        problems.add(where + ": teacher is '" + teacher + "'; expected 'original' (the run's teacher) or 'previous' "
            + "(the previous round's student)");
      }
    }
    return valid;
  }

  private void planStages() {
    add("tokenize", "tokenize", "tokenize", layout.tokens(), false, Map.of("input", root.get("corpus").asText()));
    String teacher = root.hasNonNull("teacher") ? root.get("teacher").asText() : layout.teacherInit();
    if (root.has("teacher-init")) {
      add("teacher-init", "teacher-init", "random-checkpoint", teacher, false, Map.of("output", teacher));
    }
    if (root.has("teacher-training")) {
      String trained = layout.trainedTeacher();
      add("teacher-training", "teacher-training", "distill", trained, false, Map.of("student", teacher, "output",
          trained, "loss", "ce", "checkpoints", layout.teacherCheckpoints(), "metrics", layout.metrics("teacher")));
      teacher = trained;
    }
    Map<String, Object> withTeacher = Map.of("teacher", teacher);
    add("calibrate", "calibrate", "calibrate", layout.importance(), false, withTeacher);
    add("plan", "plan", "plan", layout.planFile(), true, Map.of());
    add("prune", "prune", "prune", layout.studentInit(), false, withTeacher);
    Map<String, Object> distillFixed = new LinkedHashMap<>(Map.of("teacher", teacher, "student", layout.studentInit(),
        "output", layout.student(), "metrics", layout.metrics("distill")));
    if (root.has("teacher-logits")) {
      add("teacher-logits", "teacher-logits", "teacher-logits", layout.teacherLogits(), false,
          Map.of("teacher", teacher, "tokens", layout.tokens(), "output", layout.teacherLogits()));
      distillFixed.put("teacher-logits", layout.teacherLogits());
    }
    Config distill = add("distill", "distill", "distill", layout.student(), false, distillFixed);
    boolean scratch = root.has("scratch");
    if (scratch && distill != null) {
      Map<String, Object> budget = distill.effective();
      add("scratch-init", null, "scratch-init", layout.scratchInit(), false,
          Map.of("like", layout.studentInit(), "output", layout.scratchInit()));
      add("scratch", "scratch", "distill", layout.scratch(), false, Map.of("student", layout.scratchInit(), "output",
          layout.scratch(), "loss", "ce", "checkpoints", layout.scratchCheckpoints(), "metrics", layout.metrics("scratch"),
          "steps", budget.get("steps"), "global-batch", budget.get("global-batch")));
    }
    Map<String, String> evaluated = new LinkedHashMap<>();
    evaluated.put("teacher", teacher);
    evaluated.put("pruned", layout.studentInit());
    evaluated.put("distilled", layout.student());
    if (scratch) {
      evaluated.put("scratch", layout.scratch());
    }
    planRounds(teacher, evaluated);
    evaluated.forEach((name, model) -> add("evaluate " + name, "evaluate", "evaluate",
        layout.evaluation(name), true, Map.of("model", model, "name", name)));
    add("report", "report", "report", layout.report(), false, Map.of());
  }

  /**
   * Further compression rounds: round N (from 2) calibrates, plans, prunes and distils under RUN/round-N/, from the
   * run's teacher ('original') or the previous round's student ('previous', the default), on the same tokens. A
   * round's sections are laid over the top-level ones.
   */
  private void planRounds(String original, Map<String, String> evaluated) {
    JsonNode rounds = root.path("rounds");
    String previous = layout.student();
    for (int i = 0; i < rounds.size(); i++) {
      JsonNode round = rounds.get(i);
      String label = "round-" + (i + 2);
      RunLayout roundRun = layout.round(i + 2);
      String dir = roundRun.run();
      String teacher = round.path("teacher").asText("previous").equals("original") ? original : previous;
      String where = "rounds[" + i + "].";
      add(label + " calibrate", where + "calibrate", merged(round, "calibrate"), "calibrate",
          roundRun.importance(), false, Map.of("run", dir, "teacher", teacher, "tokens",
              layout.tokens("train")));
      add(label + " plan", where + "plan", merged(round, "plan"), "plan", roundRun.planFile(),
          true, Map.of("run", dir));
      add(label + " prune", where + "prune", merged(round, "prune"), "prune", roundRun.studentInit(),
          false, Map.of("run", dir, "teacher", teacher));
      String student = roundRun.student();
      Map<String, Object> distillFixed = new LinkedHashMap<>(Map.of("run", dir, "teacher", teacher, "student",
          roundRun.studentInit(), "output", student, "tokens", layout.tokens(), "metrics",
          layout.metrics(label + "-distill")));
      if (root.has("teacher-logits") && teacher.equals(original)) { // the run's table serves every such round
        distillFixed.put("teacher-logits", layout.teacherLogits());
      }
      add(label + " distill", where + "distill", merged(round, "distill"), "distill", student, false, distillFixed);
      evaluated.put(label, student);
      previous = student;
    }
  }

  /** The top-level section with a round's values laid over it (a round states only what differs). */
  private ObjectNode merged(JsonNode round, String section) {
    ObjectNode result = JsonNodeFactory.instance.objectNode();
    if (root.path(section).isObject()) {
      result.setAll((ObjectNode) root.get(section));
    }
    if (round.path(section).isObject()) {
      result.setAll((ObjectNode) round.get(section));
    }
    return result;
  }

  /**
   * Resolves one stage's configuration (section + shared keys + fixed keys) and adds it; returns the configuration,
   * or null when it is invalid (the problems are recorded).
   */
  private Config add(String stage, String section, String commandName, String output, boolean outputIsFile,
      Map<String, Object> fixed) {
    return add(stage, section, section == null ? null : root.get(section), commandName, output, outputIsFile, fixed);
  }

  private Config add(String stage, String section, JsonNode sectionNode, String commandName, String output,
      boolean outputIsFile, Map<String, Object> fixed) {
    Command command = commandName.equals("scratch-init") ? new ScratchInitCommand() : commands.get(commandName);
    ConfigSchema schema = command.schema();
    Map<String, Object> values = new LinkedHashMap<>();
    for (ConfigOption<?> option : schema.options()) {
      if (SHARED_KEYS.contains(option.key()) && root.hasNonNull(option.key())) {
        values.put(option.key(), root.get(option.key()).asText());
      }
    }
    if (sectionNode != null && sectionNode.isObject()) {
      Config.values(sectionNode).forEach((key, value) -> {
        if (fixed.containsKey(key)) {
          problems.add("section '" + section + "': key '" + key + "' is set by the pipeline (to " + fixed.get(key)
              + ")");
        }
        values.put(key, value);
      });
    }
    values.putAll(fixed);
    String origin = source + (section == null ? "" : " section '" + section + "'");
    try {
      Config config = Config.resolve(schema, values, origin);
      command.validate(config);
      stages.add(new PlannedStage(stage, command, config, output, outputIsFile));
      return config;
    } catch (ConfigException e) {
      problems.add("stage '" + stage + "' (" + origin + "): " + e.getMessage().replace("\n", "\n    "));
      return null;
    }
  }
}
