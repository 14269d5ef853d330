package dev.distillery.jobs.distill;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.io.DType;
import dev.distillery.jobs.spark.ForkedDistillery;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.model.LlamaConfig;
import dev.distillery.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training split whose rows, held as the long[] rows each rank used to keep, would need more than the whole heap:
 * distill in a JVM of {@value #HEAP_MB} MB streams it and trains.
 */
@Tag("slow")
class StreamedTrainingDataTest {
  private static final int HEAP_MB = 320;
  private static final int ROW_TOKENS = 256;
  private static final int ROWS = 196_608; // 50M tokens: 400 MB as long[], 200 MB as int32

  @Test
  void aCorpusLargerThanTheHeapTrains(@TempDir Path dir) throws Exception {
    LlamaConfig config = TestModels.gqaConfig();
    Path teacher = dir.resolve("teacher");
    Path student = dir.resolve("student");
    TestModels.writeCheckpoint(teacher, config, TestModels.randomWeights(config, 51), DType.F32);
    TestModels.writeCheckpoint(student, config, TestModels.randomWeights(config, 52), DType.F32);
    Path tokens = dir.resolve("tokens");
    writeRandomRows(tokens.resolve("train"), ROWS, config.vocabSize());
    writeRandomRows(tokens.resolve("valid"), 8, config.vocabSize());
    assertThat((long) ROWS * ROW_TOKENS * Long.BYTES).as("the rows as long[]")
        .isGreaterThan((long) HEAP_MB << 20);

    Path log = dir.resolve("distill.log");
    Path run = dir.resolve("run");
    int status = ForkedDistillery.run(List.of("-Xmx" + HEAP_MB + "m", "-Xlog:gc",
        "-Dspark.testing.memory=" + (512L << 20), "-Dspark.master=local[2]", "-Dspark.sql.shuffle.partitions=4",
        "-Dspark.ui.enabled=false"), List.of("distill", "--run", run.toString(), "--teacher", teacher.toString(),
        "--student", student.toString(), "--tokens", tokens.toString(), "--steps", "3", "--global-batch", "4",
        "--micro-batch", "2", "--set", "world-size=2", "--set", "validate-every=3", "--set", "valid-sequences=2",
        "--set", "preflight=false"), log, 10);
    String output = Files.readString(log);
    assertThat(status).as(output).isZero();
    assertThat(output).contains("wrote the data order of").contains(ROWS + " sequences, " + (long) ROWS * ROW_TOKENS
        + " tokens");
    assertThat(Files.readAllLines(run.resolve("metrics/distill.jsonl"))).hasSize(3);
    assertThat(run.resolve("student/_COMMITTED")).exists();
    long liveAfterGc = java.util.regex.Pattern.compile("->(\\d+)M\\(").matcher(output).results()
        .mapToLong(m -> Long.parseLong(m.group(1))).max().orElse(-1);
    System.out.println("streamed distill of " + (long) ROWS * ROW_TOKENS + " tokens in -Xmx" + HEAP_MB
        + "m: largest heap after a GC " + liveAfterGc + " MB");
  }

  private static void writeRandomRows(Path dir, int rows, int vocab) {
    JavaRDD<Row> table = SharedSpark.session().range(0, rows, 1, 8).javaRDD().map(i -> {
      Random random = new Random(i);
      return RowFactory.create((Object) IntStream.range(0, ROW_TOKENS).map(t -> random.nextInt(vocab)).toArray());
    });
    SharedSpark.session().createDataFrame(table, ParquetShards.SCHEMA).write().parquet(dir.toString());
  }
}
