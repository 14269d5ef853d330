package dev.distillery.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distillery.testing.Fixtures;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class TextTokenizerTest {
  static final Path LLAMA31 = Fixtures.llama31Tokenizer();

  @Test
  void longTextIsNeitherTruncatedNorPadded() {
    try (TextTokenizer t = TextTokenizer.load(LLAMA31, false)) {
      String text = "The quick brown fox jumps over the lazy dog. ".repeat(200);
      long[] ids = t.encode(text);
      // 10 tokens per sentence (" The" after the first); DJL's default would stop at 512.
      assertThat(ids.length).isGreaterThan(1500);
      assertThat(t.decode(ids, true)).isEqualTo(text);
    }
  }

  @Test
  void specialTokensFollowTheFlag() {
    try (TextTokenizer with = TextTokenizer.load(LLAMA31, true);
        TextTokenizer without = TextTokenizer.load(LLAMA31, false)) {
      assertThat(with.encode("Hello")).startsWith(128000L); // <|begin_of_text|>
      assertThat(without.encode("Hello")).doesNotContain(128000L);
    }
  }

  @Test
  void missingFileIsNamed() {
    assertThatThrownBy(() -> TextTokenizer.load(Path.of("/nope/tokenizer.json"), false))
        .hasMessage("tokenizer file not found: /nope/tokenizer.json");
  }
}
