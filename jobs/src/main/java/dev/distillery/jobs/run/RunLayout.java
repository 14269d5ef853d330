package dev.distillery.jobs.run;

import dev.distillery.io.Storage;

/**
 * Where each stage reads and writes under a run directory RUN: the defaults of every stage's paths, and the
 * pipeline's plan. A compression round N (from 2) has a layout of its own under RUN/round-N/ ({@link #round}).
 *
 * @param run the run directory, on any Hadoop file system
 */
public record RunLayout(String run) {
  /** tokenize's output: a directory of splits. */
  public static final String TOKENS = "tokens";
  /** calibrate's output directory. */
  public static final String IMPORTANCE = "importance";
  /** The importance scores in {@link #IMPORTANCE}. */
  public static final String IMPORTANCE_SCORES = "importance.json";
  /** The importance plot in {@link #IMPORTANCE}. */
  public static final String IMPORTANCE_PLOT = "importance.png";
  /** plan's output. */
  public static final String PLAN_FILE = "prune-plan.json";
  /** plan's size table, next to the plan. */
  public static final String SIZE_TABLE_FILE = "prune-plan.md";
  /** prune's output: the student before distillation. */
  public static final String STUDENT_INIT = "student-init";
  /** distill's output. */
  public static final String STUDENT = "student";
  /** teacher-logits' output. */
  public static final String TEACHER_LOGITS = "teacher-logits";
  /** distill's resumable training checkpoints. */
  public static final String CHECKPOINTS = "checkpoints";
  /** Training metrics, one JSON Lines file per training run. */
  public static final String METRICS = "metrics";
  /** evaluate's results, one JSON file per model. */
  public static final String EVAL = "eval";
  /** report's output. */
  public static final String REPORT = "report";

  /** {@code child} under RUN. */
  public String resolve(String child) {
    return Storage.resolve(run, child);
  }

  public String tokens() {
    return resolve(TOKENS);
  }

  /** One split of {@link #tokens()}: {@code train} or {@code valid}. */
  public String tokens(String split) {
    return Storage.resolve(tokens(), split);
  }

  public String importance() {
    return resolve(IMPORTANCE);
  }

  public String importanceScores() {
    return Storage.resolve(importance(), IMPORTANCE_SCORES);
  }

  public String importancePlot() {
    return Storage.resolve(importance(), IMPORTANCE_PLOT);
  }

  public String planFile() {
    return resolve(PLAN_FILE);
  }

  public String sizeTable() {
    return resolve(SIZE_TABLE_FILE);
  }

  public String studentInit() {
    return resolve(STUDENT_INIT);
  }

  public String student() {
    return resolve(STUDENT);
  }

  public String checkpoints() {
    return resolve(CHECKPOINTS);
  }

  /** The pipeline's generated teacher (section teacher-init). */
  public String teacherInit() {
    return resolve("teacher-init");
  }

  /** The pipeline's trained teacher (section teacher-training) and its checkpoints. */
  public String trainedTeacher() {
    return resolve("teacher");
  }

  public String teacherCheckpoints() {
    return resolve("teacher-checkpoints");
  }

  /** The pipeline's baseline (section scratch): its random initialisation, result and checkpoints. */
  public String scratchInit() {
    return resolve("scratch-init");
  }

  public String scratch() {
    return resolve("scratch");
  }

  public String scratchCheckpoints() {
    return resolve("scratch-checkpoints");
  }

  public String teacherLogits() {
    return resolve(TEACHER_LOGITS);
  }

  public String metricsDir() {
    return resolve(METRICS);
  }

  /** The metrics of the training run {@code name} (distill, scratch, teacher, round-2-distill …). */
  public String metrics(String name) {
    return Storage.resolve(metricsDir(), name + ".jsonl");
  }

  public String evalDir() {
    return resolve(EVAL);
  }

  /** The evaluation of the model named {@code name}. */
  public String evaluation(String name) {
    return Storage.resolve(evalDir(), name + ".json");
  }

  public String report() {
    return resolve(REPORT);
  }

  /** The layout of compression round {@code number} (from 2): RUN/round-N/. */
  public RunLayout round(int number) {
    return new RunLayout(resolve("round-" + number));
  }
}
