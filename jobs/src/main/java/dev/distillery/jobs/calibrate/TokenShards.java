package dev.distillery.jobs.calibrate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.io.BadInputException;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaConfig;
import java.io.IOException;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks that token shards fit the teacher before any forward pass: the tokenize manifest ({@code manifest.json}
 * next to the split directory, read defensively) names the teacher's tokenizer and a vocabulary the teacher covers.
 * Rows shorter than the calibration length (document rows) are used as they are.
 */
public final class TokenShards {
  public static final String MANIFEST = Storage.MANIFEST;
  private static final Logger LOG = LoggerFactory.getLogger(TokenShards.class);

  private TokenShards() {}

  /**
   * @throws IllegalArgumentException naming the manifest, field and value on a mismatch
   */
  public static void checkManifest(Storage storage, String tokensDir, LlamaConfig teacher, String teacherTokenizer,
      int seqLength) {
    String manifestPath = Storage.resolve(new Path(tokensDir).getParent().toString(), MANIFEST);
    if (!storage.exists(manifestPath)) {
      LOG.warn("No {}: cannot check the shards' tokenizer; token ids are still checked against vocab_size {}",
          manifestPath, teacher.vocabSize());
      return;
    }
    JsonNode manifest;
    try {
      manifest = new ObjectMapper().readTree(storage.readText(manifestPath));
    } catch (IOException e) {
      throw new IllegalArgumentException(manifestPath + ": not valid JSON: " + e.getMessage(), e);
    }
    JsonNode sha = field(manifest, "tokenizer", "sha256", "tokenizer_sha256");
    if (sha != null && teacherTokenizer != null && storage.exists(teacherTokenizer)) {
      String expected = Fingerprints.sha256(storage, teacherTokenizer);
      if (!sha.asText().equalsIgnoreCase(expected)) {
        throw new IllegalArgumentException(manifestPath + ": tokenizer.sha256 is " + sha.asText()
            + ", but the teacher's tokenizer " + teacherTokenizer + " has sha256 " + expected
            + "; the shards were tokenized with a different tokenizer");
      }
    }
    JsonNode vocab = field(manifest, "tokenizer", "vocab_size", "vocab_size");
    if (vocab != null && vocab.asLong() > teacher.vocabSize()) {
      throw new IllegalArgumentException(manifestPath + ": tokenizer.vocab_size is " + vocab.asLong()
          + ", larger than the teacher's vocab_size " + teacher.vocabSize() + " (config.json)");
    }
    JsonNode seq = field(manifest, null, "seq_length", "seq_length");
    boolean packed = !"documents".equals(manifest.path("packing").asText());
    if (packed && seq != null && seq.asInt() + 1 < seqLength) {
      LOG.warn("{}: packed rows hold {} tokens, fewer than the calibration seq-length {}; calibrating on rows of {} tokens",
          manifestPath, seq.asInt() + 1, seqLength, seq.asInt() + 1);
    }
  }

  /** {@code root.group.name}, else {@code root.flatName}, else null. */
  private static JsonNode field(JsonNode root, String group, String name, String flatName) {
    JsonNode nested = group == null ? root.get(name) : root.path(group).get(name);
    JsonNode value = nested != null && !nested.isNull() ? nested : root.get(flatName);
    return value == null || value.isNull() ? null : value;
  }

  /**
   * The first {@code seqLength} ids of a row (all of a shorter row, such as a document row), checked.
   *
   * @param file the shard the row came from, named in errors
   */
  static long[] sample(java.util.List<?> ids, String file, int seqLength, int vocabSize) {
    if (ids == null || ids.isEmpty()) {
      throw new BadInputException(file + ": a row of input_ids is empty; every row needs at least one token");
    }
    int length = Math.min(ids.size(), seqLength);
    long[] sample = new long[length];
    for (int t = 0; t < length; t++) {
      long id = ((Number) ids.get(t)).longValue();
      if (id < 0 || id >= vocabSize) {
        throw new BadInputException(file + ": input_ids holds token id " + id + " at position " + t
            + ", outside the teacher's vocab_size " + vocabSize + " (config.json); were the shards tokenized with "
            + "another tokenizer?");
      }
      sample[t] = id;
    }
    return sample;
  }
}
