package dev.distillery.tokenize;

import dev.distillery.io.Storage;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * A local copy of a tokenizer.json kept on any Hadoop file system, named by its SHA-256 so every task of a
 * JVM (and every JVM of a host) reuses one verified copy.
 */
public final class LocalTokenizerCopy {
  private LocalTokenizerCopy() {}

  /** Where copies go unless a caller says otherwise: {@code distillery-tokenizers} under {@code java.io.tmpdir}. */
  public static final Path DIRECTORY = Path.of(System.getProperty("java.io.tmpdir"), "distillery-tokenizers");

  /**
   * A local file with {@code uri}'s content, for loaders that read only local files: {@code uri} itself when it is on
   * the local file system, else a copy in {@link #DIRECTORY} named by the content's SHA-256 (read through
   * {@link Storage}, so with this JVM's Hadoop configuration: S3 endpoint and credentials).
   *
   * @throws IllegalArgumentException naming {@code uri} when it does not exist
   */
  public static Path of(String uri) {
    URI parsed = new org.apache.hadoop.fs.Path(uri).toUri();
    if (parsed.getScheme() == null) {
      return Path.of(uri);
    }
    if ("file".equals(parsed.getScheme())) {
      return Path.of(parsed);
    }
    if (!Storage.of(uri).exists(uri)) {
      throw new IllegalArgumentException("tokenizer file not found: " + uri);
    }
    byte[] bytes = read(uri);
    return keep(bytes, TokenizerFile.sha256(bytes), DIRECTORY, uri);
  }

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
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read tokenizer copy " + target + ": " + e.getMessage(), e);
    }
    byte[] bytes = read(uri);
    String actual = TokenizerFile.sha256(bytes);
    if (!actual.equals(sha256)) {
      throw new IllegalStateException("tokenizer " + uri + " changed while the job ran: sha256 " + actual
          + ", expected " + sha256);
    }
    return keep(bytes, sha256, directory, uri);
  }

  private static byte[] read(String uri) {
    try (InputStream in = Storage.of(uri).open(uri)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read tokenizer " + uri + ": " + e.getMessage(), e);
    }
  }

  /** Writes {@code bytes} to {@code directory/SHA256.json} (atomically: a temporary file moved into place). */
  private static Path keep(byte[] bytes, String sha256, Path directory, String uri) {
    Path target = directory.resolve(sha256 + ".json");
    try {
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
