package dev.distillery.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/** Real data shared by tests: the Llama 3.1 tokenizer and WikiText-2 (see the README's Tests section). */
public final class Fixtures {
  private Fixtures() {}

  /** The fixtures directory, from {@code -Ddistillery.fixtures}; fails loudly when it is not there. */
  public static Path root() {
    Path root = Path.of(System.getProperty("distillery.fixtures", "../../shared/fixtures")).normalize();
    if (!Files.isDirectory(root)) {
      throw new IllegalStateException("test fixtures not found at " + root.toAbsolutePath()
          + "; pass -Dfixtures.dir=DIR to Maven (.ci/run shows how to fetch them)");
    }
    return root;
  }

  /** The Llama 3.1 {@code tokenizer.json}. */
  public static Path llama31Tokenizer() {
    return root().resolve("tokenizers/llama-3.1/tokenizer.json");
  }

  /** A WikiText-2 split: {@code valid} or {@code test}. */
  public static Path wikitext2(String split) {
    return root().resolve("corpus/wikitext-2/" + split + ".txt");
  }
}
