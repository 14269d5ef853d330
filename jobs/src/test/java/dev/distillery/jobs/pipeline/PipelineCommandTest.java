package dev.distillery.jobs.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.cli.Distillery;
import dev.distillery.jobs.evaluate.Evaluation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pipeline's up-front validation and its skipping of stages whose committed output exists. */
class PipelineCommandTest {
  private static final List<String> DIRECTORIES = List.of("tokens", "teacher-init", "teacher", "importance",
      "student-init", "student", "scratch-init", "scratch");
  private static final List<String> EVALUATIONS = List.of("teacher", "pruned", "distilled", "scratch");

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  @Test
  void everyProblemInTheFileIsReportedBeforeAnythingRuns(@TempDir Path dir) throws IOException {
    Path run = dir.resolve("run");
    Path file = write(dir, """
        run: %s
        corpus: data.txt
        tokenizer: tokenizer.json
        teacher-init: {layers: 2}
        distil: {steps: 3}
        distill: {stepz: 3, output: elsewhere}
        plan: {target: {hidden-size: many}}
        rounds: [{plan: {}, teacher: newest, bogus: 1}]
        """.formatted(run));

    int status = pipeline(file.toString());

    String errors = err.toString(StandardCharsets.UTF_8);
    assertThat(status).isEqualTo(Distillery.USAGE);
    assertThat(errors).contains(file.toString(), "unknown key 'distil'", "rounds[0] (round 2): unknown key 'bogus'",
        "teacher is 'newest'",
        "unknown option 'stepz'", "did you mean 'steps'", "key 'output' is set by the pipeline",
        "'target.hidden-size'", "'many'");
    assertThat(run).doesNotExist();
  }

  @Test
  void crossOptionChecksOfEveryStageAndRoundRunBeforeTheFirstStage(@TempDir Path dir) throws IOException {
    Path run = dir.resolve("run");
    Path file = write(dir, """
        run: %s
        corpus: data.txt
        tokenizer: tokenizer.json
        teacher-init: {layers: 2}
        distill: {global-batch: 6, micro-batch: 4}
        teacher-training: {devices: "cpu,cpu,cpu", micro-batch: 1, global-batch: 2}
        plan: {target: {parameters: lots}}
        rounds: [{distill: {loss: kl, global-batch: 8, micro-batch: 2, world-size: 3}}]
        """.formatted(run));

    int status = pipeline(file.toString());

    String errors = err.toString(StandardCharsets.UTF_8);
    assertThat(status).as(errors).isEqualTo(Distillery.USAGE);
    assertThat(errors).contains("stage 'distill'", "global-batch 6 must be a multiple of world-size × micro-batch",
        "stage 'teacher-training'", "3 devices per rank", "stage 'plan'", "parameter budget 'lots'", "stage 'round-2 distill'", "global-batch 8");
    assertThat(run).doesNotExist();
  }

  @Test
  void tokenizeCalibrateAndTeacherLogitsCrossOptionChecksRunBeforeTheFirstStage(@TempDir Path dir)
      throws IOException {
    Path run = dir.resolve("run");
    Path file = write(dir, """
        run: %s
        corpus: "corpus_a,corpus_b"
        tokenizer: tokenizer.json
        teacher: %s/teacher-logits/teacher
        tokenize: {format: table, packing: packed-bos, bos-token: " "}
        calibrate: {method: weights, layer-loss: {samples: 4}}
        teacher-logits: {top-k: 8}
        distill: {loss: kl}
        """.formatted(run, run));

    int status = pipeline(file.toString());

    String errors = err.toString(StandardCharsets.UTF_8);
    assertThat(status).as(errors).isEqualTo(Distillery.USAGE);
    assertThat(errors).contains("stage 'tokenize'", "format 'table' reads one table", "stage 'calibrate'",
        "'layer-loss.samples' (4) needs method 'activations'", "stage 'teacher-logits'",
        "option 'output' (" + run.resolve("teacher-logits") + ") and option 'teacher'");
    assertThat(run).doesNotExist();
  }

  @Test
  void aPruneWhoseOutputIsTheTeacherFailsBeforeTheFirstStage(@TempDir Path dir) throws IOException {
    Path run = dir.resolve("run");
    Path file = write(dir, """
        run: %s
        corpus: corpus.txt
        tokenizer: tokenizer.json
        teacher: %s/student-init
        tokenize: {add-bos: true, bos-token: ""}
        """.formatted(run, run));

    int status = pipeline(file.toString());

    String errors = err.toString(StandardCharsets.UTF_8);
    assertThat(status).as(errors).isEqualTo(Distillery.USAGE);
    assertThat(errors).contains("stage 'prune'", "option 'output' (" + run.resolve("student-init")
        + ") and option 'teacher'", "overlap", "stage 'tokenize'", "'bos-token' is blank, but add-bos is true");
    assertThat(errors).doesNotContain("stage 'teacher-logits'", "stage 'calibrate'");
    assertThat(run).doesNotExist();
  }

  @Test
  void aTeacherIsRequired(@TempDir Path dir) throws IOException {
    Path file = write(dir, "run: " + dir.resolve("run") + "\ncorpus: c.txt\ntokenizer: t.json\n");
    assertThat(pipeline("--config", file.toString())).isEqualTo(Distillery.USAGE);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("set exactly one of 'teacher'");
  }

  @Test
  void aSharedKeyIsOnePath(@TempDir Path dir) throws IOException {
    Path file = write(dir, "run: " + dir.resolve("run") + "\ncorpus: c.txt\ntokenizer: [t.json]\nteacher: {a: b}\n");
    assertThat(pipeline("--config", file.toString())).isEqualTo(Distillery.USAGE);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("'tokenizer' must be a path, not a list",
        "'teacher' must be a path, not a mapping");
  }

  @Test
  void stagesWithCommittedOutputAreSkippedAndTheReportIsRedone(@TempDir Path dir) throws IOException {
    Path run = dir.resolve("run");
    for (String d : DIRECTORIES) {
      Files.createDirectories(run.resolve(d));
      Files.writeString(run.resolve(d).resolve("_COMMITTED"), "done\n");
    }
    Files.writeString(run.resolve("prune-plan.json"), "{}");
    Files.createDirectories(run.resolve("eval"));
    for (String name : EVALUATIONS) {
      Files.writeString(run.resolve("eval/" + name + ".json"),
          new Evaluation(name, "ckpt", 10, "valid", 3.0, Math.exp(3.0), 50, 5, 0.1, List.of()).toJson());
    }
    Path file = write(dir, """
        run: %s
        corpus: data.txt
        tokenizer: tokenizer.json
        teacher-init: {layers: 2}
        teacher-training: {steps: 2}
        distill: {steps: 3}
        scratch: {lr: 0.01}
        """.formatted(run));

    assertThat(pipeline(file.toString())).as(err.toString(StandardCharsets.UTF_8)).isZero();
    String summary = out.toString(StandardCharsets.UTF_8);
    assertThat(summary.lines().filter(l -> l.contains("skipped: committed"))).hasSize(13);
    assertThat(summary).containsPattern("report\\s+ran");
    assertThat(run.resolve("report/index.html")).exists();

    out.reset();
    assertThat(pipeline(file.toString())).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains("skipped: committed")))
        .hasSize(14);
  }

  @Test
  void aSecondRoundCompressesThePreviousStudentUnderItsOwnDirectory(@TempDir Path dir) throws IOException {
    Path run = dir.resolve("run");
    Path file = write(dir, """
        run: %s
        corpus: data.txt
        tokenizer: tokenizer.json
        teacher: /models/teacher
        rounds:
          - {teacher: previous, plan: {target: {hidden-size: 32}}, distill: {steps: 5}}
        """.formatted(run));

    assertThat(pipeline(file.toString(), "--dry-run", "true")).as(err.toString(StandardCharsets.UTF_8)).isZero();

    assertThat(out.toString(StandardCharsets.UTF_8)).containsPattern("round-2 calibrate\\s+calibrate\\s+"
        + run.resolve("round-2/importance")).containsPattern("round-2 distill\\s+distill\\s+"
        + run.resolve("round-2/student")).containsPattern("evaluate round-2\\s+evaluate\\s+"
        + run.resolve("eval/round-2.json"));
    assertThat(run).doesNotExist();
  }

  private int pipeline(String... args) {
    String[] all = new String[args.length + 1];
    all[0] = "pipeline";
    System.arraycopy(args, 0, all, 1, args.length);
    return Distillery.standard().run(all, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private static Path write(Path dir, String yaml) throws IOException {
    Path file = dir.resolve("pipeline.yaml");
    Files.writeString(file, yaml);
    return file;
  }
}
