package dev.distillery.jobs.tokenize;

import static dev.distillery.jobs.tokenize.TokenizeTestSupport.manifest;
import static dev.distillery.jobs.tokenize.TokenizeTestSupport.parquetRows;
import static dev.distillery.jobs.tokenize.TokenizeTestSupport.tokenize;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.testing.Fixtures;
import dev.distillery.tokenize.TextTokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.Encoders;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Input formats, skipped documents and the errors for input and options that cannot be used. */
class TokenizeInputTest {
  @TempDir
  Path dir;

  @Test
  void jsonlDocumentsWithEverySkipReasonCounted() throws Exception {
    Path input = dir.resolve("corpus.jsonl");
    Files.writeString(input, String.join("\n",
        "{\"body\": \"The first document.\"}",
        "{\"body\": \"  \"}",
        "{\"other\": 1}",
        "{\"body\": \"" + "long ".repeat(30) + "\"}",
        "{\"body\": \"broken \uFFFD bytes\"}",
        "{\"body\": \"" + "\u00e9".repeat(80) + "\"}", // 160 bytes of UTF-8 but 80 characters: kept
        "{\"body\": \"The second document.\"}"));
    Path run = dir.resolve("run");
    tokenize("input=" + input, "format=jsonl", "text-field=body", "run=" + run, "packing=documents",
        "valid-fraction=0", "max-chars=100", "add-bos=true", "max-skipped-fraction=0.6");

    JsonNode manifest = manifest(run);
    JsonNode skipped = manifest.get("skipped_documents");
    assertThat(skipped.get("empty").asLong()).isEqualTo(1);
    assertThat(skipped.get("missing-text").asLong()).isEqualTo(1);
    assertThat(skipped.get("too-long").asLong()).isEqualTo(1);
    assertThat(skipped.get("invalid-utf8").asLong()).isEqualTo(1);
    assertThat(manifest.get("splits").get("train").get("documents").asLong()).isEqualTo(3);
    Set<String> decoded = new HashSet<>();
    try (TextTokenizer tokenizer = TextTokenizer.load(Fixtures.llama31Tokenizer(), false)) {
      for (int[] row : parquetRows(run.resolve("tokens/train"))) {
        assertThat(row[0]).isEqualTo(128000);
        assertThat(row[row.length - 1]).isEqualTo(128001);
        decoded.add(tokenizer.decode(java.util.Arrays.stream(row).asLongStream().toArray(), true));
      }
    }
    assertThat(decoded).containsExactlyInAnyOrder("The first document.", "The second document.", "\u00e9".repeat(80));
  }

  @Test
  void invalidUtf8IsSkippedOrFailsWhenStrict() throws Exception {
    Path input = dir.resolve("bad.txt");
    byte[] bad = {'o', 'k', '\n', 'b', 'a', 'd', (byte) 0xC3, (byte) 0x28, '\n', 'f', 'i', 'n', 'e', '\n'};
    Files.write(input, bad);
    tokenize("input=" + input, "document-boundary=line", "run=" + dir.resolve("lenient"), "seq-length=1",
        "valid-fraction=0");
    assertThat(manifest(dir.resolve("lenient")).get("skipped_documents").get("invalid-utf8").asLong()).isEqualTo(1);

    assertThatThrownBy(() -> tokenize("input=" + input, "document-boundary=line", "run=" + dir.resolve("strict"),
        "strict-utf8=true")).hasMessageContaining("1 document(s)").hasMessageContaining("U+FFFD")
        .hasMessageContaining(input.toString());
    assertThat(dir.resolve("strict/tokens")).doesNotExist();
  }

  @Test
  void parquetColumnInput() throws Exception {
    Path input = dir.resolve("docs.parquet");
    SharedSpark.session().createDataset(List.of("alpha beta", "gamma delta", "epsilon"), Encoders.STRING())
        .toDF("content").write().parquet(input.toString());
    Path run = dir.resolve("run");
    tokenize("input=" + input, "format=parquet", "text-field=content", "run=" + run, "seq-length=3",
        "valid-fraction=0");
    JsonNode train = manifest(run).get("splits").get("train");
    assertThat(train.get("documents").asLong()).isEqualTo(3);
    assertThat(train.get("sequences").asLong()).isEqualTo(train.get("tokens").asLong() / 4);
  }

  @Test
  void missingFieldOrColumnIsNamed() throws Exception {
    Path input = dir.resolve("corpus.jsonl");
    Files.writeString(input, "{\"text\": \"a\"}\n");
    assertThatThrownBy(() -> tokenize("input=" + input, "format=jsonl", "text-field=body", "run=" + dir))
        .hasMessageContaining("option 'text-field': JSONL field 'body' not found in [" + input + "]")
        .hasMessageContaining("found [text]");
  }

  @Test
  void aMostlySkippedCorpusFailsNamingTheReasonsAndWritesNothing() throws Exception {
    Path input = dir.resolve("binary.txt");
    byte[] bad = {'o', 'k', '\n', 0x7f, 'E', 'L', 'F', (byte) 0xC3, (byte) 0x28, '\n', (byte) 0xff, (byte) 0xfe, '\n',
        (byte) 0x80, 'x', '\n'};
    Files.write(input, bad);
    assertThatThrownBy(() -> tokenize("input=" + input, "document-boundary=line", "run=" + dir.resolve("run"),
        "seq-length=1", "valid-fraction=0"))
        .hasMessageContaining("option 'max-skipped-fraction': 3 of 4 documents in [" + input + "] (75.0%) were "
            + "skipped, more than the allowed 50.0%: {invalid-utf8=3}");
    assertThat(dir.resolve("run/tokens")).doesNotExist();

    tokenize("input=" + input, "document-boundary=line", "run=" + dir.resolve("run"), "seq-length=1",
        "valid-fraction=0", "max-skipped-fraction=0.8");
    assertThat(manifest(dir.resolve("run")).get("skipped_documents").get("invalid-utf8").asLong()).isEqualTo(3);
  }

  @Test
  void emptyCorpusIsAnError() throws Exception {
    Path input = dir.resolve("empty.txt");
    Files.writeString(input, "\n \n");
    assertThatThrownBy(() -> tokenize("input=" + input, "run=" + dir.resolve("run")))
        .hasMessageContaining("the corpus is empty").hasMessageContaining(input.toString());
  }

  @Test
  void missingInputPathIsNamed() {
    assertThatThrownBy(() -> tokenize("input=" + dir.resolve("nope.txt"), "run=" + dir.resolve("run")))
        .hasMessageContaining("option 'input'").hasMessageContaining("nope.txt");
  }

  @Test
  void uint16ForALargeVocabularyFailsBeforeAnyWork() {
    assertThatThrownBy(() -> tokenize("input=" + dir.resolve("never-read.txt"), "run=" + dir.resolve("run"),
        "token-dtype=uint16")).hasMessageContaining("uint16 cannot hold a vocabulary of 128256 ids");
    assertThat(dir.resolve("run")).doesNotExist();
  }

  @Test
  void aCorpusShorterThanOneRowIsAnError() throws Exception {
    Path input = dir.resolve("tiny.txt");
    Files.writeString(input, "Just a few words.\n", StandardCharsets.UTF_8);
    assertThatThrownBy(() -> tokenize("input=" + input, "run=" + dir.resolve("run"), "valid-fraction=0"))
        .hasMessageContaining("option 'seq-length'").hasMessageContaining("4097");
  }
}
