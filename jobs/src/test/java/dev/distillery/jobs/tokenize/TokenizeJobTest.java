package dev.distillery.jobs.tokenize;

import static dev.distillery.jobs.tokenize.TokenizeTestSupport.manifest;
import static dev.distillery.jobs.tokenize.TokenizeTestSupport.parquetRows;
import static dev.distillery.jobs.tokenize.TokenizeTestSupport.readMegatron;
import static dev.distillery.jobs.tokenize.TokenizeTestSupport.shardFiles;
import static dev.distillery.jobs.tokenize.TokenizeTestSupport.tokenize;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.distillery.testing.Fixtures;
import dev.distillery.tokenize.DocumentBoundary;
import dev.distillery.tokenize.ShardLayout;
import dev.distillery.tokenize.TextTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** End-to-end runs on a slice of WikiText-2 with the Llama 3.1 tokenizer. */
class TokenizeJobTest {
  static final int EOD = 128001;
  static final int ROW = 64;

  @TempDir
  static Path corpus;
  static List<String> documents;

  @BeforeAll
  static void writeCorpus() throws IOException {
    List<String> lines = Files.readAllLines(Fixtures.wikitext2("valid"));
    Files.write(corpus.resolve("a.txt"), lines.subList(0, 103));
    Files.write(corpus.resolve("b.txt"), lines.subList(103, 300));
    documents = new ArrayList<>();
    for (String file : List.of("a.txt", "b.txt")) {
      documents.addAll(DocumentBoundary.WIKITEXT.split(Files.readString(corpus.resolve(file))));
    }
  }

  @Test
  void packedRowsAreTheSeededDocumentStreamCutIntoRows(@TempDir Path run) throws Exception {
    TokenizeResult result = tokenize("input=" + corpus + "/*.txt", "document-boundary=wikitext", "run=" + run,
        "seq-length=" + (ROW - 1), "valid-fraction=0.3", "megatron=true", "rows-per-shard=20");

    Set<List<Long>> expected = new HashSet<>();
    try (TextTokenizer tokenizer = TextTokenizer.load(Fixtures.llama31Tokenizer(), false)) {
      for (String doc : documents) {
        List<Long> ids = new ArrayList<>();
        for (long id : tokenizer.encode(doc)) {
          ids.add(id);
        }
        ids.add((long) EOD);
        expected.add(ids);
      }
    }
    Set<List<Long>> seen = new HashSet<>();
    JsonNode manifest = manifest(run);
    long totalDocuments = 0;
    for (String split : List.of("train", "valid")) {
      JsonNode megatron = readMegatron(run.resolve("tokens/megatron/" + split + "_text_document"));
      assertThat(megatron.get("dtype").asText()).isEqualTo("int32");
      List<Integer> stream = new ArrayList<>();
      for (JsonNode sequence : megatron.get("sequences")) {
        List<Long> ids = new ArrayList<>();
        sequence.forEach(id -> ids.add(id.asLong()));
        assertThat(seen.add(ids)).as("each document once").isTrue();
        ids.forEach(id -> stream.add(id.intValue()));
      }
      JsonNode summary = manifest.get("splits").get(split);
      assertThat(summary.get("documents").asLong()).isEqualTo(megatron.get("sequences").size());
      assertThat(summary.get("tokens").asLong()).isEqualTo(stream.size());
      totalDocuments += summary.get("documents").asLong();

      List<int[]> rows = parquetRows(run.resolve("tokens/" + split));
      assertThat(rows).allSatisfy(row -> assertThat(row).hasSize(ROW));
      assertThat(summary.get("sequences").asLong()).isEqualTo(rows.size()).isEqualTo(stream.size() / ROW);
      assertThat(summary.get("dropped_tokens").asLong()).isEqualTo(stream.size() % ROW);
      int[] packed = rows.stream().flatMapToInt(IntStream::of).toArray();
      assertThat(packed).as("rows are the document stream in order")
          .isEqualTo(stream.subList(0, packed.length).stream().mapToInt(Integer::intValue).toArray());
      assertBalancedShards(run.resolve("tokens/" + split), rows.size(), 20);
    }
    assertThat(seen).isEqualTo(expected);
    assertThat(totalDocuments).isEqualTo(documents.size());
    assertThat(manifest.get("splits").get("valid").get("documents").asLong()).isPositive();
    assertThat(manifest.get("tokenizer").get("vocab_size").asInt()).isEqualTo(128256);
    assertThat(manifest.get("tokenizer").get("eod_id").asInt()).isEqualTo(EOD);
    assertThat(manifest.get("token_dtype").asText()).isEqualTo("int32");
    assertThat(manifest.get("config").get("seq-length").asInt()).isEqualTo(ROW - 1);
    assertThat(result.tokens()).isEqualTo(manifest.get("splits").get("train").get("tokens").asLong()
        + manifest.get("splits").get("valid").get("tokens").asLong());
    assertThat(result.summary()).contains("documents", "tokens/s");
  }

  @Test
  void bosAlignedRowsStartWithBosAndCarryTheDocumentStreamAfterIt(@TempDir Path run) throws Exception {
    int bos = 128000;
    tokenize("input=" + corpus + "/*.txt", "document-boundary=wikitext", "run=" + run, "seq-length=" + (ROW - 1),
        "valid-fraction=0.3", "megatron=true", "packing=packed-bos");
    JsonNode manifest = manifest(run);
    assertThat(manifest.get("packing").asText()).isEqualTo("packed-bos");
    assertThat(manifest.get("row_length").asInt()).isEqualTo(ROW);
    assertThat(manifest.get("tokenizer").get("row_start_id").asInt()).isEqualTo(bos);
    assertThat(manifest.get("tokenizer").get("bos_id").isNull()).as("documents themselves get no BOS").isTrue();
    for (String split : List.of("train", "valid")) {
      List<Integer> stream = new ArrayList<>();
      readMegatron(run.resolve("tokens/megatron/" + split + "_text_document")).get("sequences")
          .forEach(sequence -> sequence.forEach(id -> stream.add(id.intValue())));
      List<int[]> rows = parquetRows(run.resolve("tokens/" + split));
      JsonNode summary = manifest.get("splits").get(split);
      assertThat(rows).isNotEmpty().allSatisfy(row -> {
        assertThat(row).hasSize(ROW);
        assertThat(row[0]).isEqualTo(bos);
      });
      assertThat(summary.get("sequences").asLong()).isEqualTo(rows.size()).isEqualTo(stream.size() / (ROW - 1));
      assertThat(summary.get("dropped_tokens").asLong()).isEqualTo(stream.size() % (ROW - 1));
      int[] carried = rows.stream().flatMapToInt(row -> IntStream.of(row).skip(1)).toArray();
      assertThat(carried).as("after each row's BOS: the document stream in order")
          .isEqualTo(stream.subList(0, carried.length).stream().mapToInt(Integer::intValue).toArray());
    }
  }

  private static void assertBalancedShards(Path dir, int rows, int maxRows) throws Exception {
    List<Path> files = shardFiles(dir);
    int shards = (rows + maxRows - 1) / maxRows;
    assertThat(files).extracting(p -> p.getFileName().toString())
        .isEqualTo(IntStream.range(0, shards).mapToObj(ShardLayout::fileName).toList());
    List<Integer> sizes = new ArrayList<>();
    for (Path file : files) {
      sizes.add(sizeOf(file));
    }
    assertThat(sizes.stream().mapToInt(Integer::intValue).sum()).isEqualTo(rows);
    assertThat(sizes.stream().mapToInt(Integer::intValue).max().orElse(0)
        - sizes.stream().mapToInt(Integer::intValue).min().orElse(0)).isLessThanOrEqualTo(1);
  }

  private static int sizeOf(Path parquetFile) {
    return (int) dev.distillery.jobs.spark.SharedSpark.session().read().parquet(parquetFile.toString()).count();
  }

  @Test
  void sameConfigGivesIdenticalBytesAndACommittedRunIsANoOp(@TempDir Path run) throws Exception {
    String[] settings = {"input=" + corpus + "/a.txt", "document-boundary=wikitext", "run=" + run, "seq-length=255",
        "valid-fraction=0.4", "megatron=true", "rows-per-shard=5"};
    assertThat(tokenize(settings).manifest()).isNotNull();
    Map<String, byte[]> first = contents(run.resolve("tokens"));
    assertThat(first).containsKeys("manifest.json", "train/part-00000.parquet", "megatron/train_text_document.idx");

    TokenizeResult noOp = tokenize(settings);
    assertThat(noOp.manifest()).isNull();
    assertThat(noOp.summary()).contains("already committed");

    String[] forced = Stream.concat(Stream.of(settings), Stream.of("force=true", "partitions=3"))
        .toArray(String[]::new);
    assertThat(tokenize(forced).manifest()).isNotNull();
    Map<String, byte[]> second = contents(run.resolve("tokens"));
    assertThat(second.keySet()).isEqualTo(first.keySet());
    first.forEach((name, bytes) -> assertThat(second.get(name)).as(name).isEqualTo(bytes));
  }

  /** Every file under {@code dir} but the commit marker (it holds the commit time), by relative path. */
  private static Map<String, byte[]> contents(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      Map<String, byte[]> out = new TreeMap<>();
      for (Path file : files.filter(Files::isRegularFile).collect(Collectors.toList())) {
        String name = dir.relativize(file).toString();
        if (!name.equals("_COMMITTED")) {
          out.put(name, Files.readAllBytes(file));
        }
      }
      return out;
    }
  }
}
