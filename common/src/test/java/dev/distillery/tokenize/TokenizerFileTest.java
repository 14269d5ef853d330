package dev.distillery.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distillery.testing.Fixtures;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

class TokenizerFileTest {
  @Test
  void llama31VocabularyAndSpecialTokens() throws Exception {
    byte[] bytes = Files.readAllBytes(Fixtures.llama31Tokenizer());
    TokenizerFile file = TokenizerFile.parse(bytes, "llama");
    assertThat(file.vocabSize()).isEqualTo(128256);
    assertThat(file.tokenId("<|begin_of_text|>", "bos-token")).isEqualTo(128000);
    assertThat(file.tokenId("<|end_of_text|>", "eod-token")).isEqualTo(128001);
    assertThat(file.sha256()).hasSize(64).isEqualTo(TokenizerFile.sha256(bytes));
    assertThatThrownBy(() -> file.tokenId("<eos>", "eod-token"))
        .hasMessage("option 'eod-token': token '<eos>' is not in the tokenizer's vocabulary");
  }

  @Test
  void notATokenizerIsNamed() {
    assertThatThrownBy(() -> TokenizerFile.parse("{\"a\": 1}".getBytes(StandardCharsets.UTF_8), "x.json"))
        .hasMessageContaining("tokenizer x.json has no model.vocab");
    assertThatThrownBy(() -> TokenizerFile.parse("{".getBytes(StandardCharsets.UTF_8), "y.json"))
        .hasMessageStartingWith("tokenizer y.json is not valid JSON");
    assertThatThrownBy(() -> TokenizerFile.parse("{\"added_tokens\": [{\"id\": 1}".getBytes(StandardCharsets.UTF_8),
        "z.json")).hasMessageStartingWith("tokenizer z.json is not valid JSON");
  }

  @Test
  void tokenDTypeFollowsTheVocabulary() {
    assertThat(TokenDType.forVocabulary("auto", 128256)).isEqualTo(TokenDType.INT32);
    assertThat(TokenDType.forVocabulary("auto", 32000)).isEqualTo(TokenDType.UINT16);
    assertThat(TokenDType.forVocabulary("int32", 32000)).isEqualTo(TokenDType.INT32);
    assertThatThrownBy(() -> TokenDType.forVocabulary("uint16", 128256))
        .hasMessageContaining("uint16 cannot hold a vocabulary of 128256 ids");
  }
}
