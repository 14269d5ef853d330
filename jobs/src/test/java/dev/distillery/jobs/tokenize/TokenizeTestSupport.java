package dev.distillery.jobs.tokenize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.Config;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.testing.Fixtures;
import dev.distillery.testing.PythonReference;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;

/** Runs the tokenize job on the shared test session and reads back what it wrote. */
final class TokenizeTestSupport {
  private TokenizeTestSupport() {}

  /** Runs the job with {@code key=value} settings (the tokenizer defaults to the Llama 3.1 fixture). */
  static TokenizeResult tokenize(String... settings) {
    List<String> overrides = new ArrayList<>();
    overrides.add("tokenizer=" + Fixtures.llama31Tokenizer());
    overrides.add("partitions=2");
    overrides.addAll(List.of(settings));
    Config config = Config.resolve(TokenizeSettings.SCHEMA, null, null, overrides);
    return new TokenizeJob(SharedSpark.session(), TokenizeSettings.from(config)).run();
  }

  /** The rows of every Parquet shard of {@code splitDir}, shard by shard, in file order. */
  static List<int[]> parquetRows(Path splitDir) throws IOException {
    List<int[]> rows = new ArrayList<>();
    for (Path file : shardFiles(splitDir)) {
      for (Row row : SharedSpark.session().read().parquet(file.toString()).collectAsList()) {
        rows.add(row.<Integer>getList(0).stream().mapToInt(Integer::intValue).toArray());
      }
    }
    return rows;
  }

  /** The files of a split directory, sorted by name. */
  static List<Path> shardFiles(Path splitDir) throws IOException {
    try (Stream<Path> files = Files.list(splitDir)) {
      return files.sorted().toList();
    }
  }

  static JsonNode manifest(Path run) throws IOException {
    return new ObjectMapper().readTree(run.resolve("tokens/manifest.json").toFile());
  }

  /** Reads a Megatron dataset with the independent Python reader (src/test/python/megatron_reader.py). */
  static JsonNode readMegatron(Path prefix) throws Exception {
    return new ObjectMapper().readTree(PythonReference.runScript(Path.of("."), "megatron_reader.py",
        prefix.toString()));
  }
}
