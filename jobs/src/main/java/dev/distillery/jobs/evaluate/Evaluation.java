package dev.distillery.jobs.evaluate;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.List;

/**
 * The result of evaluating one checkpoint, as written to {@code RUN/eval/NAME.json}.
 *
 * @param name what the checkpoint is in the run (teacher, pruned, distilled, scratch)
 * @param checkpoint the checkpoint's path
 * @param parameters its parameter count
 * @param tokens the token split evaluated
 * @param loss mean next-token cross-entropy, nats per token
 * @param perplexity {@code exp(loss)}
 * @param targetTokens tokens counted
 * @param sequences sequences evaluated
 * @param seconds wall-clock time of the loss pass
 * @param generations greedy continuations of the prompts (empty without a tokenizer)
 */
public record Evaluation(String name, String checkpoint, long parameters, String tokens, double loss,
    double perplexity, long targetTokens, long sequences, double seconds, List<Generation> generations) {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** A prompt and the text the model continued it with. */
  public record Generation(String prompt, String text) {}

  /** Pretty-printed JSON. */
  public String toJson() {
    try {
      return JSON.writeValueAsString(this) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Reads an evaluation file.
   *
   * @param source the file's path, named in errors
   */
  public static Evaluation fromJson(String json, String source) {
    try {
      return JSON.readValue(json, Evaluation.class);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(source + ": not an evaluation file: " + e.getOriginalMessage(), e);
    }
  }
}
