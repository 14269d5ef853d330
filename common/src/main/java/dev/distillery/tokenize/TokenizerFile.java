package dev.distillery.tokenize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a job needs to know about a {@code tokenizer.json} without loading the native tokenizer: its
 * content hash, its vocabulary size (largest id + 1, added tokens included) and the ids of its tokens.
 */
public final class TokenizerFile {
  private final String sha256;
  private final Map<String, Integer> ids;
  private final int vocabSize;

  private TokenizerFile(String sha256, Map<String, Integer> ids) {
    this.sha256 = sha256;
    this.ids = ids;
    this.vocabSize = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
  }

  /**
   * Reads the file's bytes.
   *
   * @param source the file's name, for error messages
   * @throws IllegalArgumentException naming {@code source} when it is not a tokenizer.json
   */
  public static TokenizerFile parse(byte[] json, String source) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(json);
    } catch (IOException e) {
      throw new IllegalArgumentException("tokenizer " + source + " is not valid JSON: " + e.getMessage(), e);
    }
    JsonNode vocab = root == null ? null : root.path("model").get("vocab");
    if (vocab == null || !vocab.isObject()) {
      throw new IllegalArgumentException("tokenizer " + source + " has no model.vocab object; expected a Hugging Face "
          + "tokenizer.json");
    }
    Map<String, Integer> ids = new TreeMap<>();
    vocab.fields().forEachRemaining(e -> ids.put(e.getKey(), e.getValue().asInt()));
    root.path("added_tokens").forEach(t -> ids.put(t.path("content").asText(), t.path("id").asInt()));
    return new TokenizerFile(sha256(json), ids);
  }

  /** Hex SHA-256 of {@code bytes}. */
  public static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Hex SHA-256 of the file. */
  public String sha256() {
    return sha256;
  }

  /** Number of token ids: the largest id plus one. */
  public int vocabSize() {
    return vocabSize;
  }

  /**
   * The id of token {@code content} (e.g. {@code <|end_of_text|>}).
   *
   * @param option the option that named the token, for the error message
   * @throws IllegalArgumentException when the vocabulary has no such token
   */
  public int tokenId(String content, String option) {
    Integer id = ids.get(content);
    if (id == null) {
      throw new IllegalArgumentException("option '" + option + "': token '" + content
          + "' is not in the tokenizer's vocabulary");
    }
    return id;
  }
}
