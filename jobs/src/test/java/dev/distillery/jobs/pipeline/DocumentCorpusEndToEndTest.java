package dev.distillery.jobs.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.cli.Distillery;
import dev.distillery.io.DType;
import dev.distillery.jobs.evaluate.Evaluation;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.model.LlamaConfig;
import dev.distillery.testing.TestModels;
import dev.distillery.tokenize.RowWindows;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A corpus of documents of 2 to several hundred tokens (WikiText-2 lines, two very short documents and one of
 * several paragraphs, longer than the models' 128 positions) through tokenize in 'documents' mode and in
 * 'packed-bos' mode, then calibrate, distill on 2 ranks and evaluate, on a tiny random teacher with the sample's
 * tokenizer: every stage takes the rows, and distill and evaluate cut the long ones into windows.
 */
class DocumentCorpusEndToEndTest {
  private static final int POSITIONS = 128;
  private static final int BOS = 1;

  @Test
  void documentRowsAndBosPackedRowsRunThroughEveryStage(@TempDir Path dir) throws IOException {
    Path samples = Files.isDirectory(Path.of("../data-samples")) ? Path.of("../data-samples") : Path.of("data-samples");
    Path tokenizer = samples.resolve("tokenizer.json").toAbsolutePath();
    Path corpus = corpus(samples.resolve("wikitext-2-valid-sample.txt"), dir.resolve("corpus.txt"));
    LlamaConfig teacherConfig = new LlamaConfig(32, 64, 2, 2, 1, 16, 2048, 1e-5, 10000.0, null, POSITIONS, false,
        BOS, 2, "float32");
    Path teacher = dir.resolve("teacher");
    Path student = dir.resolve("student-init");
    TestModels.writeCheckpoint(teacher, teacherConfig, TestModels.randomWeights(teacherConfig, 81), DType.F32);
    LlamaConfig studentConfig = teacherConfig.withShape(16, 32, 2, 2, 1, 8);
    TestModels.writeCheckpoint(student, studentConfig, TestModels.randomWeights(studentConfig, 82), DType.F32);
    Files.copy(tokenizer, teacher.resolve("tokenizer.json"));

    for (String packing : List.of("documents", "packed-bos")) {
      Path run = dir.resolve("run-" + packing);
      assertThat(cli("tokenize", "--run", run.toString(), "--input", corpus.toString(), "--tokenizer",
          tokenizer.toString(), "--set", "document-boundary=line", "--set", "packing=" + packing, "--set",
          "seq-length=48", "--set", "valid-fraction=0.25")).as("tokenize, " + packing).isZero();
      List<int[]> train = rows(run.resolve("tokens/train"));
      if (packing.equals("documents")) {
        assertThat(train.stream().mapToInt(r -> r.length).min().orElseThrow()).as("a one-word document + EOD")
            .isEqualTo(2);
        assertThat(rows(run.resolve("tokens/valid")).size() + train.size()).isEqualTo(documents(corpus));
      } else {
        assertThat(train).allMatch(r -> r.length == 49 && r[0] == BOS);
      }
      assertThat(cli("calibrate", "--run", run.toString(), "--teacher", teacher.toString(), "--samples", "8",
          "--seq-length", "64", "--batch-size", "4", "--set", "preflight=false")).as("calibrate, " + packing).isZero();
      assertThat(run.resolve("importance/importance.json")).exists();

      assertThat(cli("distill", "--run", run.toString(), "--teacher", teacher.toString(), "--student",
          student.toString(), "--steps", "3", "--global-batch", "4", "--micro-batch", "2", "--world-size", "2",
          "--warmup-steps", "1", "--validate-every", "3", "--valid-sequences", "8", "--set", "preflight=false"))
          .as("distill, " + packing).isZero();
      List<String> metrics = Files.readAllLines(run.resolve("metrics/distill.jsonl"));
      assertThat(metrics).hasSize(3);
      JsonNode last = new ObjectMapper().readTree(metrics.get(2));
      assertThat(last.get("loss").asDouble()).isFinite().isPositive();
      assertThat(last.get("val_loss").asDouble()).isFinite().isPositive();
      JsonNode order = new ObjectMapper().readTree(run.resolve("checkpoints/data-order/order.json").toFile());
      long longRows = train.stream().filter(r -> r.length > POSITIONS).count();
      assertThat(order.get("cut_rows").asLong()).as("rows beyond 128 positions, " + packing).isEqualTo(longRows);
      if (packing.equals("documents")) {
        assertThat(longRows).isPositive();
      }

      assertThat(cli("evaluate", "--run", run.toString(), "--model", run.resolve("student").toString(), "--name",
          "distilled")).as("evaluate, " + packing).isZero();
      Path eval = run.resolve("eval/distilled.json");
      Evaluation evaluation = Evaluation.fromJson(Files.readString(eval), eval.toString());
      assertThat(evaluation.loss()).isFinite().isPositive();
      List<int[]> windows = rows(run.resolve("tokens/valid")).stream()
          .flatMap(r -> RowWindows.of(r, POSITIONS).stream()).filter(w -> w.length >= 2).toList();
      assertThat(evaluation.sequences()).as("valid rows as windows of 128, " + packing).isEqualTo(windows.size());
      assertThat(evaluation.targetTokens()).isEqualTo(windows.stream().mapToLong(w -> w.length - 1).sum());
    }
  }

  /**
   * One document per line: the sample's WikiText lines (5 to 270 words), two very short documents and one of six
   * paragraphs joined.
   */
  private static Path corpus(Path sample, Path out) throws IOException {
    List<String> lines = new ArrayList<>();
    for (String line : Files.readAllLines(sample, StandardCharsets.UTF_8)) {
      String text = line.replace("\uFEFF", "").strip();
      if (!text.isEmpty()) {
        lines.add(text);
      }
    }
    List<String> paragraphs = lines.stream().filter(l -> l.split(" ").length > 100).limit(6).toList();
    lines.add("lobster");
    lines.add("the sea");
    lines.add(String.join(" ", paragraphs));
    Files.write(out, lines, StandardCharsets.UTF_8);
    return out;
  }

  private static long documents(Path corpus) throws IOException {
    return Files.readAllLines(corpus).stream().filter(l -> !l.isBlank()).count();
  }

  private static List<int[]> rows(Path split) {
    return SharedSpark.session().read().parquet(split.toString()).collectAsList().stream()
        .map((Row row) -> ParquetShards.intIds(row)).toList();
  }

  private static int cli(String... args) {
    return Distillery.standard().run(args, System.out, System.err);
  }
}
