package dev.distillery.distill;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.io.Storage;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code manifest.json} of a teacher-logits table: which teacher, which token shards and which layout produced
 * it, and one entry per shard. Shard {@code train/F} holds, row for row and in the same order, the distributions of
 * the token shard {@code TOKENS/train/F}; each row repeats its {@code input_ids}, so a reader can order it exactly as
 * the token rows are ordered.
 *
 * @param teacher the teacher checkpoint as given
 * @param teacherFingerprint {@code Fingerprints.checkpointWithSamples} of the teacher (header and sampled weights)
 * @param vocabSize the teacher's {@code vocab_size}
 * @param teacherContext the teacher's {@code max_position_embeddings}, the windows it ran on (0: unknown, a manifest
 *     written before this was recorded)
 * @param topK the most likely ids kept per position
 * @param tailSamples ids drawn from the tail per position, stored after the top k (0: a tail bucket instead)
 * @param values how log-probabilities are stored
 * @param tokens the token directory read (with {@code train/} and {@code manifest.json})
 * @param tokensManifestSha256 sha256 of that {@code manifest.json}
 * @param topKMass the teacher's mean probability on its k stored ids, over all positions (what the tail bucket
 *     leaves to the student's own shape is one minus this)
 * @param shards one per token shard, in file-name order
 */
public record TeacherLogitsManifest(String teacher, String teacherFingerprint, int vocabSize, int teacherContext,
    int topK, int tailSamples, TopKLogits.Values values, String tokens, String tokensManifestSha256, double topKMass,
    List<Shard> shards) {
  /** The format this class reads and writes. */
  public static final String FORMAT = "distillery-teacher-logits/1";
  /** The file name of the manifest inside the table's directory. */
  public static final String FILE = Storage.MANIFEST;
  /** What {@code row_order} says. */
  static final String ROW_ORDER = "train/F holds the rows of TOKENS/train/F, in their order";

  /**
   * One stored shard.
   *
   * @param file its name, equal to its token shard's
   * @param rows rows (as many as the token shard's)
   * @param tokens token positions over its rows
   * @param bytes its size on storage
   */
  public record Shard(String file, long rows, long tokens, long bytes) {}

  /** Entries stored per position: the top k, then the tail samples. */
  public int entries() {
    return topK + tailSamples;
  }

  /** Token positions over all shards. */
  public long tokenCount() {
    return shards.stream().mapToLong(Shard::tokens).sum();
  }

  /** Stored bytes per token position, over all shards (Parquet, compressed). */
  public double bytesPerToken() {
    long tokens = tokenCount();
    return tokens == 0 ? 0 : (double) shards.stream().mapToLong(Shard::bytes).sum() / tokens;
  }

  /** Pretty-printed JSON, keys in a fixed order. */
  public String toJson() {
    ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = mapper.createObjectNode();
    root.put("format", FORMAT);
    ObjectNode t = root.putObject("teacher");
    t.put("path", teacher);
    t.put("fingerprint", teacherFingerprint);
    t.put("vocab_size", vocabSize);
    t.put("max_position_embeddings", teacherContext);
    root.put("top_k", topK);
    root.put("tail_samples", tailSamples);
    root.put("values", values.label());
    root.put("temperature", 1);
    ObjectNode tok = root.putObject("tokens");
    tok.put("path", tokens);
    tok.put("manifest_sha256", tokensManifestSha256);
    tok.put("split", "train");
    root.put("row_order", ROW_ORDER);
    root.put("tokens_total", tokenCount());
    root.put("bytes_per_token", Math.round(bytesPerToken() * 100) / 100.0);
    root.put("top_k_mass_mean", Math.round(topKMass * 1e6) / 1e6);
    var list = root.putArray("shards");
    for (Shard s : shards) {
      ObjectNode n = list.addObject();
      n.put("file", s.file());
      n.put("rows", s.rows());
      n.put("tokens", s.tokens());
      n.put("bytes", s.bytes());
    }
    try {
      return mapper.writeValueAsString(root) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Parses a manifest.
   *
   * @param where the file, named in errors
   * @throws IllegalArgumentException naming the file and field when it is not such a manifest
   */
  public static TeacherLogitsManifest fromJson(String json, String where) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(where + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (!FORMAT.equals(root.path("format").asText())) {
      throw new IllegalArgumentException(where + ": format is '" + root.path("format").asText() + "', expected '"
          + FORMAT + "'");
    }
    List<Shard> shards = new ArrayList<>();
    for (JsonNode n : root.path("shards")) {
      shards.add(new Shard(n.path("file").asText(), n.path("rows").asLong(), n.path("tokens").asLong(),
          n.path("bytes").asLong()));
    }
    TopKLogits.Values values;
    try {
      values = TopKLogits.Values.of(root.path("values").asText());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(where + ": values is '" + root.path("values").asText()
          + "', expected float16 or float32", e);
    }
    JsonNode teacher = root.path("teacher");
    if (teacher.path("max_position_embeddings").asInt(0) < 0) {
      throw new IllegalArgumentException(where + ": teacher.max_position_embeddings is "
          + teacher.path("max_position_embeddings") + ", expected a positive context (or no field: unknown)");
    }
    return new TeacherLogitsManifest(teacher.path("path").asText(), teacher.path("fingerprint").asText(),
        teacher.path("vocab_size").asInt(), teacher.path("max_position_embeddings").asInt(0),
        root.path("top_k").asInt(), root.path("tail_samples").asInt(), values,
        root.path("tokens").path("path").asText(), root.path("tokens").path("manifest_sha256").asText(),
        root.path("top_k_mass_mean").asDouble(), shards);
  }
}
