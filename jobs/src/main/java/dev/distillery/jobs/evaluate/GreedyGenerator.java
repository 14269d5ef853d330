package dev.distillery.jobs.evaluate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.distillery.model.LlamaModel;
import dev.distillery.tokenize.TextTokenizer;
import java.util.Arrays;

/** Greedy decoding: the most likely next token, repeated, until EOS or a length limit. */
final class GreedyGenerator {
  private final LlamaModel model;
  private final TextTokenizer tokenizer;

  GreedyGenerator(LlamaModel model, TextTokenizer tokenizer) {
    this.model = model;
    this.tokenizer = tokenizer;
  }

  /**
   * The continuation of {@code prompt} (without the prompt), at most {@code maxNew} tokens.
   *
   * @throws IllegalArgumentException when the prompt encodes to no tokens: there is nothing to continue
   */
  String continuation(String prompt, int maxNew) {
    long[] promptIds = tokenizer.encode(prompt);
    if (promptIds.length == 0) {
      throw new IllegalArgumentException("evaluate: prompt '" + prompt + "' encodes to no tokens, so there is "
          + "nothing to continue; give prompts of at least one token (option 'prompts')");
    }
    long[] ids = Arrays.copyOf(promptIds, promptIds.length + maxNew);
    int length = promptIds.length;
    try (NDManager manager = NDManager.newBaseManager(model.device())) {
      while (length < ids.length) {
        // A context longer than the model's positions keeps its last max_position_embeddings tokens.
        long next = nextToken(manager, Arrays.copyOfRange(ids, Math.max(0, length - model.config()
            .maxPositionEmbeddings()), length));
        if (next == model.config().eosTokenId()) {
          break;
        }
        ids[length++] = next;
      }
    }
    return tokenizer.decode(Arrays.copyOfRange(ids, promptIds.length, length), true);
  }

  private long nextToken(NDManager manager, long[] context) {
    try (NDManager step = manager.newSubManager()) {
      NDArray logits = model.forward(step.create(context).reshape(1, context.length));
      return logits.get(new NDIndex("0, -1, :")).argMax().toLongArray()[0];
    }
  }
}
