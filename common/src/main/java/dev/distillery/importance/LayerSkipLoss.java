package dev.distillery.importance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distillery.model.LanguageModelLoss;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.TokenLoss;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** The LM loss of a teacher with some layers skipped: depth-pruning candidates, each evaluated independently. */
public final class LayerSkipLoss {
  private static final int CHUNK_TOKENS = 1024;

  private LayerSkipLoss() {}

  /**
   * A skipped set of contiguous layers; {@code size == 0} is the unpruned baseline.
   *
   * @param first the first skipped layer
   * @param size how many layers are skipped
   */
  public record Candidate(int first, int size) implements java.io.Serializable {
    /** The skipped layer indices. */
    public Set<Integer> layers() {
      Set<Integer> layers = new LinkedHashSet<>();
      for (int i = first; i < first + size; i++) {
        layers.add(i);
      }
      return layers;
    }
  }

  /** The baseline plus every contiguous block of each size in {@code blockSizes} (single layers are size 1). */
  public static List<Candidate> candidates(int layers, Set<Integer> blockSizes) {
    List<Candidate> all = new ArrayList<>();
    all.add(new Candidate(0, 0));
    for (int size : blockSizes) {
      if (size < 1 || size >= layers) {
        throw new IllegalArgumentException("block size " + size + " must be in [1, " + layers + ")");
      }
      for (int first = 0; first + size <= layers; first++) {
        all.add(new Candidate(first, size));
      }
    }
    return all;
  }

  /**
   * Summed next-token cross-entropy and scored-token count of {@code model} without {@code skipped} layers.
   *
   * @param sequences token ids, one array per sequence, all the same length
   */
  public static double[] sumAndCount(LlamaModel model, long[][] sequences, Set<Integer> skipped) {
    try (NDManager manager = NDManager.newBaseManager(model.device())) {
      double sum = 0;
      long count = 0;
      for (long[] sequence : sequences) {
        try (NDManager step = manager.newSubManager()) {
          NDArray ids = step.create(sequence).reshape(1, sequence.length);
          NDArray hidden = model.forwardHidden(ids, skipped);
          TokenLoss loss = LanguageModelLoss.crossEntropyChunked(hidden, model.lmHeadWeight(step), ids,
              LanguageModelLoss.IGNORE_INDEX, CHUNK_TOKENS);
          sum += loss.mean().getFloat() * loss.tokens();
          count += loss.tokens();
        }
      }
      return new double[] {sum, count};
    }
  }
}
