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
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole pipeline on a very small config, with a second round: every stage runs, then a rerun skips them all. */
@Tag("slow")
class PipelineEndToEndTest {
  @Test
  void runsEveryStageThenSkipsThemOnARerun(@TempDir Path dir) throws IOException {
    Path samples = Files.isDirectory(Path.of("../data-samples")) ? Path.of("../data-samples") : Path.of("data-samples");
    Path run = dir.resolve("run");
    Path file = dir.resolve("tiny.yaml");
    Files.writeString(file, """
        run: %s
        corpus: %s
        tokenizer: %s
        tokenize: {format: text, document-boundary: wikitext, seq-length: 16, valid-fraction: 0.3}
        teacher-init: {hidden-size: 32, intermediate-size: 64, layers: 2, heads: 2, kv-heads: 1, head-dim: 16,
                       vocab-size: 2048, dtype: float32}
        teacher-training: {steps: 4, global-batch: 4, micro-batch: 4, lr: 0.003, warmup-steps: 1, validate-every: 2}
        calibrate: {samples: 8, seq-length: 16, batch-size: 4}
        plan: {target: {hidden-size: 16, ffn-size: 32}, hidden-multiple: 8, ffn-multiple: 16}
        distill: {steps: 3, global-batch: 4, micro-batch: 4, warmup-steps: 1, validate-every: 1}
        scratch: {micro-batch: 4, warmup-steps: 1, validate-every: 1}
        evaluate: {max-sequences: 8, max-new: 3}
        rounds:
          - {plan: {target: {hidden-size: 8, ffn-size: 16}}, distill: {steps: 2}}
        """.formatted(run, samples.resolve("wikitext-2-valid-sample.txt").toAbsolutePath(),
        samples.resolve("tokenizer.json").toAbsolutePath()));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrintStream print = new PrintStream(out, true, StandardCharsets.UTF_8);

    assertThat(Distillery.standard().run(new String[] {"pipeline", file.toString()}, print, System.err)).isZero();

    for (String name : new String[] {"teacher", "pruned", "distilled", "scratch", "round-2"}) {
      Path eval = run.resolve("eval/" + name + ".json");
      assertThat(Evaluation.fromJson(Files.readString(eval), eval.toString()).loss()).as(name).isPositive();
    }
    assertThat(run.resolve("metrics/scratch.jsonl")).exists();
    assertThat(run.resolve("report/loss-valid.png")).exists();
    assertThat(run.resolve("report/index.html")).exists();
    assertThat(out.toString(StandardCharsets.UTF_8)).doesNotContain("skipped: committed");

    out.reset();
    assertThat(Distillery.standard().run(new String[] {"pipeline", file.toString()}, print, System.err)).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains("skipped: committed")))
        .hasSize(19);
  }
}
