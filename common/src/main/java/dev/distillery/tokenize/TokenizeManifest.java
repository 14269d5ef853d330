package dev.distillery.tokenize;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.TreeMap;

/**
 * The {@code manifest.json} of a tokenize output: what it holds and exactly what produced it. It has no
 * timestamps or host names, so the same input and config give the same bytes.
 *
 * @param packing {@code packed}, {@code packed-bos} or {@code documents}
 * @param seqLength model context length; packed rows hold {@code seqLength + 1} tokens
 * @param tokenizerPath the tokenizer.json as configured
 * @param tokenizerSha256 hex SHA-256 of its bytes
 * @param vocabSize the tokenizer's number of ids
 * @param bosId id put before each document, or {@link DocumentEncoder#NONE}
 * @param eodId id put after each document, or {@link DocumentEncoder#NONE}
 * @param rowStartId id every packed row starts with ({@code packed-bos}), or {@link DocumentEncoder#NONE}
 * @param tokenDType how the Megatron files store ids
 * @param splits summaries by split name
 * @param skipped documents left out, by reason
 * @param megatron whether Megatron {@code .bin/.idx} files were written
 * @param config the effective configuration, defaults included
 */
public record TokenizeManifest(String packing, int seqLength, String tokenizerPath, String tokenizerSha256,
    int vocabSize, int bosId, int eodId, int rowStartId, TokenDType tokenDType, Map<String, SplitSummary> splits,
    Map<String, Long> skipped, boolean megatron, Map<String, Object> config) {

  /** The manifest as pretty-printed JSON with keys in a fixed order. */
  public String toJson() {
    ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = mapper.createObjectNode();
    root.put("format", "distillery-tokens/1");
    root.put("packing", packing);
    root.put("seq_length", seqLength);
    root.put("row_length", packing.equals("documents") ? -1 : seqLength + 1);
    root.put("column", "input_ids");
    ObjectNode tokenizer = root.putObject("tokenizer");
    tokenizer.put("path", tokenizerPath);
    tokenizer.put("sha256", tokenizerSha256);
    tokenizer.put("vocab_size", vocabSize);
    putId(tokenizer, "bos_id", bosId);
    putId(tokenizer, "eod_id", eodId);
    putId(tokenizer, "row_start_id", rowStartId);
    root.put("token_dtype", tokenDType.optionName());
    ObjectNode splitsNode = root.putObject("splits");
    splits.forEach((name, s) -> {
      ObjectNode n = splitsNode.putObject(name);
      n.put("documents", s.documents());
      n.put("tokens", s.tokens());
      n.put("sequences", s.sequences());
      n.put("dropped_tokens", s.droppedTokens());
      n.put("shards", s.shards());
    });
    ObjectNode skippedNode = root.putObject("skipped_documents");
    new TreeMap<>(skipped).forEach(skippedNode::put);
    root.put("megatron", megatron);
    root.set("config", mapper.valueToTree(new TreeMap<>(config)));
    try {
      return mapper.writeValueAsString(root) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void putId(ObjectNode node, String key, int id) {
    if (id == DocumentEncoder.NONE) {
      node.putNull(key);
    } else {
      node.put(key, id);
    }
  }
}
