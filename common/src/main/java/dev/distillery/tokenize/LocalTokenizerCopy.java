package dev.distillery.tokenize;

import dev.distillery.io.Storage;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * A local copy of a tokenizer.json kept on any Hadoop file system, named by its SHA-256 so every task of a
 * JVM (and every JVM of a host) reuses one verified copy.
 */
public final class LocalTokenizerCopy {
  private LocalTokenizerCopy() {}

  /**
   * The local file holding {@code uri}'s bytes, copied into {@code directory} unless already there.
   *
   * @throws IllegalStateException when the file's content no longer has hash {@code sha256}
   */
  public static Path of(String uri, String sha256, Path directory) {
    Path target = directory.resolve(sha256 + ".json");
    try {
      if (Files.isRegularFile(target) && sha256.equals(TokenizerFile.sha256(Files.readAllBytes(target)))) {
        return target;
      }
      byte[] bytes;
      try (InputStream in = Storage.of(uri).open(uri)) {
        bytes = in.readAllBytes();
      }
      String actual = TokenizerFile.sha256(bytes);
      if (!actual.equals(sha256)) {
        throw new IllegalStateException("tokenizer " + uri + " changed while the job ran: sha256 " + actual
            + ", expected " + sha256);
      }
      Files.createDirectories(directory);
      Path temp = Files.createTempFile(directory, sha256, ".tmp");
      Files.write(temp, bytes);
      Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot copy tokenizer " + uri + " to " + target + ": " + e.getMessage(), e);
    }
  }
}
