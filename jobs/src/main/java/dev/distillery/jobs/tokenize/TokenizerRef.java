package dev.distillery.jobs.tokenize;

import dev.distillery.jobs.spark.ExecutorCache;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.tokenize.DocumentEncoder;
import dev.distillery.tokenize.LocalTokenizerCopy;
import dev.distillery.tokenize.TextTokenizer;
import java.io.Serializable;
import java.nio.file.Path;

/**
 * What a task needs to encode documents: where the tokenizer is, its hash, and the BOS/EOD ids. The
 * tokenizer itself is loaded once per executor JVM and shared by all its tasks.
 *
 * @param uri the tokenizer.json on any Hadoop file system
 * @param sha256 its content hash; the local copy and the cache entry are keyed by it
 * @param bosId id put before each document, or {@link DocumentEncoder#NONE}
 * @param eodId id put after each document, or {@link DocumentEncoder#NONE}
 * @param hadoop the configuration to read {@code uri} with
 */
record TokenizerRef(String uri, String sha256, int bosId, int eodId, HadoopConf hadoop) implements Serializable {

  /** An encoder over this JVM's shared tokenizer. */
  DocumentEncoder encoder() {
    hadoop.install();
    TextTokenizer tokenizer = ExecutorCache.get("tokenizer:" + sha256, () -> {
      Path local = LocalTokenizerCopy.of(uri, sha256, LocalTokenizerCopy.DIRECTORY);
      return TextTokenizer.load(local, false);
    });
    return new DocumentEncoder(tokenizer, bosId, eodId);
  }
}
