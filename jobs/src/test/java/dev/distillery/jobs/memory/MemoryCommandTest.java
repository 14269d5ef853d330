package dev.distillery.jobs.memory;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.cli.Distillery;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code distillery memory} on a distill config whose checkpoints are config.json files only. */
class MemoryCommandTest {
  private static final String LLAMA_8B = Path.of("../conf/models/Meta-Llama-3.1-8B").toAbsolutePath().toString();
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    return Distillery.standard().run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private Path distillConfig(Path dir) throws Exception {
    Path file = dir.resolve("distill.yaml");
    Files.writeString(file, "run: " + dir + "\nteacher: " + LLAMA_8B + "\nstudent: " + LLAMA_8B
        + "\nloss: kl\nworld-size: 4\nglobal-batch: 64\nmicro-batch: 1\nteacher-dtype: float16\n");
    return file;
  }

  @Test
  void jsonGivesThePeakAgainstTheDeviceAndShardingShrinksIt(@TempDir Path dir) throws Exception {
    Path file = distillConfig(dir);
    assertThat(run("memory", "--config", file.toString(), "--seq-length", "4096", "--devices-per-rank", "8",
        "--device-memory", "141GB", "--json", "true")).as(err.toString()).isZero();
    JsonNode whole = new ObjectMapper().readTree(out.toString());
    out.reset();
    assertThat(run("memory", "--config", file.toString(), "--seq-length", "4096", "--devices-per-rank", "8",
        "--device-memory", "141GB", "--shard-optimizer", "true", "--json", "true")).isZero();
    JsonNode sharded = new ObjectMapper().readTree(out.toString());
    assertThat(whole.get("device_memory_bytes").asLong()).isEqualTo(141_000_000_000L);
    long p = whole.get("student_parameters").asLong();
    assertThat(p).isEqualTo(8_030_261_248L);
    assertThat(whole.get("optimizer_state_bytes").asLong()).isEqualTo(8 * p);
    assertThat(sharded.get("optimizer_state_bytes").asLong()).isEqualTo(8 * ((p + 31) / 32));
    assertThat(whole.get("peak_bytes_per_device").asLong() - sharded.get("peak_bytes_per_device").asLong())
        .isGreaterThan(7 * p);
    assertThat(whole.get("row_tokens").asInt()).isEqualTo(4097);
  }

  @Test
  void aDeviceThatCannotHoldOneLayerOrAnUnevenSplitIsRefusedNamingTheOption(@TempDir Path dir) throws Exception {
    Path file = distillConfig(dir);
    assertThat(run("memory", "--config", file.toString(), "--seq-length", "4096", "--device-memory", "2GB"))
        .isEqualTo(Distillery.USAGE);
    assertThat(err.toString()).contains("option 'device-memory' (2GB) cannot hold even one decoder layer");
    err.reset();
    assertThat(run("memory", "--config", file.toString(), "--seq-length", "4096", "--devices-per-rank", "3"))
        .isEqualTo(Distillery.USAGE);
    assertThat(err.toString()).contains("world-size 4 with devices-per-rank 3");
  }
}
