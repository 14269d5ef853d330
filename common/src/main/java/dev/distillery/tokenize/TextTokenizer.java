package dev.distillery.tokenize;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A Hugging Face {@code tokenizer.json} loaded through DJL, with truncation and padding off: DJL's
 * defaults (truncate to 512, pad to the longest) would silently corrupt a corpus.
 */
public final class TextTokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;
  private final Path source;

  private TextTokenizer(HuggingFaceTokenizer tokenizer, Path source) {
    this.tokenizer = tokenizer;
    this.source = source;
  }

  /**
   * Loads a {@code tokenizer.json} from the local file system.
   *
   * @param addSpecialTokens whether {@link #encode} adds the tokenizer's BOS (and other template tokens)
   * @throws IllegalArgumentException naming the file when it is missing or not a tokenizer
   */
  public static TextTokenizer load(Path tokenizerJson, boolean addSpecialTokens) {
    if (!Files.isRegularFile(tokenizerJson)) {
      throw new IllegalArgumentException("tokenizer file not found: " + tokenizerJson);
    }
    try {
      HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
          .optTokenizerPath(tokenizerJson)
          .optAddSpecialTokens(addSpecialTokens)
          .optTruncation(false)
          .optPadding(false)
          .build();
      return new TextTokenizer(t, tokenizerJson);
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException("cannot load tokenizer " + tokenizerJson + ": " + e.getMessage(), e);
    }
  }

  /** Token ids of {@code text}, never truncated. */
  public long[] encode(String text) {
    Encoding encoding = tokenizer.encode(text);
    return encoding.getIds();
  }

  /**
   * Token ids of every text, in order, in one native call: much less per-text overhead than {@link #encode}
   * for many short texts. The native tokenizer may use several threads unless {@code TOKENIZERS_PARALLELISM=false}.
   */
  public long[][] batchEncode(List<String> texts) {
    Encoding[] encodings = tokenizer.batchEncode(texts);
    long[][] ids = new long[encodings.length][];
    for (int i = 0; i < encodings.length; i++) {
      ids[i] = encodings[i].getIds();
    }
    return ids;
  }

  /** Text of {@code ids}, special tokens skipped when {@code skipSpecialTokens}. */
  public String decode(long[] ids, boolean skipSpecialTokens) {
    return tokenizer.decode(ids, skipSpecialTokens);
  }

  /** The file this tokenizer was loaded from. */
  public Path source() {
    return source;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
