package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A cheap check that data and teacher fit before hours of calibration or distillation: the teacher's next-token loss
 * on a few rows must beat uniform guessing ({@code log(vocab_size)}), and, for rows that do not start with BOS
 * (packed rows start mid-document), must not be much worse than on BOS-started windows of the same rows (the same
 * targets, BOS put in front). The first fails when the tokenizer or the checkpoint does not match the data; the
 * second when the teacher relies on BOS at the start of its context (an attention sink).
 *
 * @param rows rows measured (each cut to {@link #WINDOW} tokens)
 * @param tokens predicted tokens per measurement
 * @param loss mean loss on the rows as they are
 * @param bosLoss mean loss on the same targets with BOS in front; NaN when not measured
 * @param logVocab {@code log(vocab_size)}, the loss of uniform guessing
 * @param bosSkipped why {@code bosLoss} was not measured, or null
 */
public record TeacherPreflight(int rows, long tokens, double loss, double bosLoss, double logVocab, String bosSkipped)
    implements Serializable {
  /** Tokens of each row measured, at most. */
  public static final int WINDOW = 256;
  /** Loss without BOS above this multiple of the loss with BOS fails the check. */
  public static final double BOS_RATIO = 1.5;

  /**
   * Measures {@code teacher} on {@code rows} (token ids; rows of fewer than 2 tokens are left out).
   *
   * @param bosTokenId the teacher's BOS id (config.json {@code bos_token_id})
   */
  public static TeacherPreflight measure(LlamaModel teacher, List<long[]> rows, int bosTokenId) {
    int vocab = teacher.config().vocabSize();
    int window = Math.min(WINDOW, teacher.config().maxPositionEmbeddings() - 1);
    List<long[]> windows = rows.stream().filter(r -> r.length >= 2)
        .map(r -> Arrays.copyOf(r, Math.min(r.length, window))).toList();
    boolean bosKnown = bosTokenId >= 0 && bosTokenId < vocab;
    boolean allStartWithBos = windows.stream().allMatch(r -> r[0] == bosTokenId);
    String skipped = !bosKnown ? "no bos_token_id" : allStartWithBos ? "rows start with BOS" : null;
    double[] plain = new double[2];
    double[] withBos = new double[2];
    for (long[] row : windows) {
      add(plain, loss(teacher, row, row));
      if (skipped == null) {
        long[] ids = new long[row.length + 1];
        ids[0] = bosTokenId;
        System.arraycopy(row, 0, ids, 1, row.length);
        long[] labels = ids.clone();
        labels[1] = LanguageModelLoss.IGNORE_INDEX; // the same targets as without BOS: row[1..]
        add(withBos, loss(teacher, ids, labels));
      }
    }
    return new TeacherPreflight(windows.size(), (long) plain[1], plain[0] / plain[1],
        skipped == null ? withBos[0] / withBos[1] : Double.NaN, Math.log(vocab), skipped);
  }

  private static void add(double[] sum, double[] one) {
    sum[0] += one[0];
    sum[1] += one[1];
  }

  /** {summed loss, predicted tokens} of one sequence. */
  private static double[] loss(LlamaModel teacher, long[] ids, long[] labels) {
    try (NDManager manager = NDManager.newBaseManager(teacher.device())) {
      NDArray input = manager.create(new long[][] {ids});
      NDArray hidden = teacher.forwardHidden(input);
      TokenLoss loss = LanguageModelLoss.crossEntropyChunked(hidden, teacher.lmHeadWeight(manager),
          manager.create(new long[][] {labels}), LanguageModelLoss.IGNORE_INDEX, WINDOW);
      return new double[] {(double) loss.mean().getFloat() * loss.tokens(), loss.tokens()};
    }
  }

  /** The failed checks, one phrase each; empty when the teacher fits the data. */
  public List<String> problems() {
    List<String> problems = new ArrayList<>();
    if (!(loss < logVocab)) {
      problems.add(String.format(Locale.ROOT, "loss %.4f is not below log(vocab_size) %.4f (uniform guessing)",
          loss, logVocab));
    }
    if (!Double.isNaN(bosLoss) && loss > BOS_RATIO * bosLoss) {
      problems.add(String.format(Locale.ROOT, "loss %.4f is %.1f times the loss %.4f on BOS-started windows of the "
          + "same rows (more than %.1f)", loss, loss / bosLoss, bosLoss, BOS_RATIO));
    }
    return problems;
  }

  /** The checks made and their figures, in one line. */
  public String describe() {
    return String.format(Locale.ROOT, "loss %.4f on %d rows (%d tokens) vs log(vocab_size) %.4f; %s", loss, rows,
        tokens, logVocab, bosSkipped != null ? "BOS check skipped: " + bosSkipped
            : String.format(Locale.ROOT, "vs %.4f on BOS-started windows (ratio %.2f, limit %.1f)", bosLoss,
                loss / bosLoss, BOS_RATIO));
  }
}
