package dev.distillery.tokenize;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

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
   * Reads the file's bytes: a streaming pass that keeps only {@code model.vocab} and {@code added_tokens}
   * (the merges and the rest are skipped, not built into a tree).
   *
   * @param source the file's name, for error messages
   * @throws IllegalArgumentException naming {@code source} when it is not a tokenizer.json
   */
  public static TokenizerFile parse(byte[] json, String source) {
    Map<String, Integer> vocab = null;
    Map<String, Integer> added = new HashMap<>();
    try (JsonParser parser = JsonFactory.builder().disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES).build()
        .createParser(json)) {
      if (parser.nextToken() == JsonToken.START_OBJECT) {
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
          String field = parser.currentName();
          JsonToken value = parser.nextToken();
          if (field.equals("model") && value == JsonToken.START_OBJECT) {
            vocab = readVocab(parser);
          } else if (field.equals("added_tokens") && value == JsonToken.START_ARRAY) {
            readAddedTokens(parser, added);
          } else {
            parser.skipChildren();
          }
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("tokenizer " + source + " is not valid JSON: " + e.getMessage(), e);
    }
    if (vocab == null) {
      throw new IllegalArgumentException("tokenizer " + source + " has no model.vocab object; expected a Hugging Face "
          + "tokenizer.json");
    }
    Map<String, Integer> ids = new HashMap<>(vocab);
    ids.putAll(added);
    return new TokenizerFile(sha256(json), ids);
  }

  /** The {@code vocab} object of the {@code model} object the parser is at, or null when it has none. */
  private static Map<String, Integer> readVocab(JsonParser parser) throws IOException {
    Map<String, Integer> vocab = null;
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String field = parser.currentName();
      if (parser.nextToken() == JsonToken.START_OBJECT && field.equals("vocab")) {
        vocab = new HashMap<>();
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
          String token = parser.currentName();
          parser.nextToken();
          vocab.put(token, parser.getValueAsInt());
          parser.skipChildren();
        }
      } else {
        parser.skipChildren();
      }
    }
    return vocab;
  }

  /** Adds the content and id of every entry of the {@code added_tokens} array the parser is at. */
  private static void readAddedTokens(JsonParser parser, Map<String, Integer> ids) throws IOException {
    while (parser.nextToken() != JsonToken.END_ARRAY) {
      String content = "";
      int id = 0;
      if (parser.currentToken() == JsonToken.START_OBJECT) {
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
          String field = parser.currentName();
          parser.nextToken();
          if (field.equals("content")) {
            content = parser.getValueAsString("");
          } else if (field.equals("id")) {
            id = parser.getValueAsInt();
          }
          parser.skipChildren();
        }
      } else {
        parser.skipChildren();
      }
      ids.put(content, id);
    }
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
