package dev.distillery.jobs.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.cli.Distillery;
import dev.distillery.io.CheckpointReader;
import dev.distillery.jobs.evaluate.Evaluation;
import dev.distillery.model.ModelArchitecture;
import dev.distillery.prune.PrunePlan;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Mistral (sliding window shorter than the sequences) and Qwen2 (biases, tied embeddings) teachers through the
 * pipeline: calibrate, plan with KV-head pruning, prune, distill and evaluate; the students keep the architecture.
 * About 11 s per architecture on an idle 2-core machine, so it runs in the default suite.
 */
class ArchitecturePipelineTest {
  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "mistral | architecture: mistral, sliding-window: 6",
      "qwen2   | architecture: qwen2, tie-word-embeddings: true"})
  void prunesDistilsAndEvaluates(String family, String architecture, @TempDir Path dir) throws IOException {
    Path samples = Files.isDirectory(Path.of("../data-samples")) ? Path.of("../data-samples") : Path.of("data-samples");
    Path run = dir.resolve("run");
    Path file = dir.resolve("pipeline.yaml");
    // The teacher is a random checkpoint, which does no better than uniform guessing: no preflight.
    Files.writeString(file, """
        run: %s
        corpus: %s
        tokenizer: %s
        tokenize: {format: text, document-boundary: wikitext, seq-length: 16, valid-fraction: 0.3}
        teacher-init: {%s, hidden-size: 32, intermediate-size: 64, layers: 2, heads: 4, kv-heads: 2,
                       head-dim: 8, vocab-size: 2048, dtype: bfloat16}
        calibrate: {samples: 8, seq-length: 16, batch-size: 4, preflight: false}
        plan: {target: {hidden-size: 16, ffn-size: 32, kv-heads: 1}, hidden-multiple: 8, ffn-multiple: 16}
        distill: {steps: 2, global-batch: 4, micro-batch: 4, warmup-steps: 1, validate-every: 1, preflight: false}
        evaluate: {max-sequences: 8, max-new: 3}
        """.formatted(run, samples.resolve("wikitext-2-valid-sample.txt").toAbsolutePath(),
        samples.resolve("tokenizer.json").toAbsolutePath(), architecture));
    ByteArrayOutputStream out = new ByteArrayOutputStream();

    assertThat(Distillery.standard().run(new String[] {"pipeline", file.toString()},
        new PrintStream(out, true, StandardCharsets.UTF_8), System.err)).isZero();

    PrunePlan plan = PrunePlan.fromJson(Files.readString(run.resolve("prune-plan.json")), "prune-plan.json");
    assertThat(plan.target().numKeyValueHeads()).isEqualTo(1);
    assertThat(plan.target().numAttentionHeads()).isEqualTo(2);
    for (String name : new String[] {"teacher", "pruned", "distilled"}) {
      Path eval = run.resolve("eval/" + name + ".json");
      assertThat(Evaluation.fromJson(Files.readString(eval), eval.toString()).loss()).as(name).isPositive();
    }
    try (CheckpointReader student = CheckpointReader.open(run.resolve("student").toString())) {
      ModelArchitecture.Family expected = ModelArchitecture.Family.valueOf(family.toUpperCase(java.util.Locale.ROOT));
      assertThat(student.config().architecture().family()).isEqualTo(expected);
      assertThat(student.config().numKeyValueHeads()).isEqualTo(1);
      assertThat(student.config().architecture().slidingWindow()).isEqualTo(family.equals("mistral") ? 6 : 0);
    }
  }
}
