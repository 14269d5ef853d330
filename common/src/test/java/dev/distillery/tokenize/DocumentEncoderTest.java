package dev.distillery.tokenize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.testing.Fixtures;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class DocumentEncoderTest {
  @Test
  void batchEncodingMatchesSingleEncodingWithBosAndEod() {
    try (TextTokenizer tokenizer = TextTokenizer.load(Fixtures.llama31Tokenizer(), false)) {
      List<String> docs = List.of("Hello world", "A much longer document. ".repeat(100), "x");
      int[][] encoded = new DocumentEncoder(tokenizer, 128000, 128001).encode(docs);
      for (int d = 0; d < docs.size(); d++) {
        long[] single = tokenizer.encode(docs.get(d));
        assertThat(encoded[d][0]).isEqualTo(128000);
        assertThat(encoded[d][encoded[d].length - 1]).isEqualTo(128001);
        assertThat(Arrays.stream(encoded[d], 1, encoded[d].length - 1).asLongStream().toArray()).isEqualTo(single);
      }
      int[][] plain = new DocumentEncoder(tokenizer, DocumentEncoder.NONE, DocumentEncoder.NONE).encode(docs);
      assertThat(plain[0]).hasSize(tokenizer.encode("Hello world").length);
    }
  }
}
