package dev.distillery.jobs.spark;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.io.DType;
import dev.distillery.model.LlamaConfig;
import dev.distillery.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Under task retries (local[2,4]: spark.task.maxFailures 4, as on a cluster), a corrupt row fails calibrate on its
 * first failed task attempt, and the user reads the row's problem in one line.
 */
@Tag("slow") // a JVM of its own, about 50 s here
class BadInputIsNotRetriedTest {
  @Test
  void aCorruptRowFailsCalibrateAtOnceInOneLine(@TempDir Path dir) throws Exception {
    LlamaConfig config = TestModels.gqaConfig();
    Path teacher = dir.resolve("teacher");
    TestModels.writeCheckpoint(teacher, config, TestModels.randomWeights(config, 61), DType.F32);
    long[][] rows = TestModels.randomTokens(4, 16, config.vocabSize(), 62);
    rows[2][3] = config.vocabSize() + 5;
    Path run = dir.resolve("run");
    TokenShardFiles.write(run.resolve("tokens/train"), rows);

    Path log = dir.resolve("calibrate.log");
    int status = ForkedDistillery.run(List.of("-Xmx1g", "-Dspark.master=local[2,4]", "-Dspark.ui.enabled=false",
        "-Dspark.driver.host=127.0.0.1", "-Dspark.driver.bindAddress=127.0.0.1"), List.of("calibrate", "--run",
        run.toString(), "--teacher", teacher.toString(), "--samples", "4", "--seq-len", "16", "--partitions", "2",
        "--set", "preflight=false"), log, 5);
    String output = Files.readString(log);
    assertThat(status).as(output).isEqualTo(1);
    String error = output.lines().filter(l -> l.startsWith("distillery calibrate: error: ")).findFirst().orElseThrow();
    assertThat(error).contains("input_ids holds token id " + (config.vocabSize() + 5) + " at position 3, outside "
        + "the teacher's vocab_size " + config.vocabSize()).doesNotContain("\tat ", "Job aborted", "Exception");
    // Spark re-queues a failed task before any listener hears of the failure, so a second attempt may start; the
    // stage's cancellation kills it within milliseconds, before it reads the row again.
    assertThat(output.lines().filter(l -> l.matches(".*Lost task \\d+\\.\\d+ in stage .*BadInputException.*")))
        .as("task attempts that failed on the row").hasSize(1);
    assertThat(output).contains("cancelled because bad input, not retried");
  }
}
