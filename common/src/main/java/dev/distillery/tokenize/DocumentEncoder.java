package dev.distillery.tokenize;

import java.util.List;

/**
 * Turns documents into the token ids a training row holds: an optional BOS id, the text's ids (no
 * template tokens), an optional end-of-document id (Megatron's {@code --append-eod}).
 */
public final class DocumentEncoder {
  /** Marks an unused BOS or EOD id. */
  public static final int NONE = -1;

  private final TextTokenizer tokenizer;
  private final int bosId;
  private final int eodId;

  /**
   * @param tokenizer a tokenizer loaded without special tokens
   * @param bosId id put before every document, or {@link #NONE}
   * @param eodId id put after every document, or {@link #NONE}
   */
  public DocumentEncoder(TextTokenizer tokenizer, int bosId, int eodId) {
    this.tokenizer = tokenizer;
    this.bosId = bosId;
    this.eodId = eodId;
  }

  /** The ids of each document, in order, encoded in one batch. */
  public int[][] encode(List<String> documents) {
    long[][] encoded = tokenizer.batchEncode(documents);
    int[][] out = new int[encoded.length][];
    int extra = (bosId == NONE ? 0 : 1) + (eodId == NONE ? 0 : 1);
    for (int d = 0; d < encoded.length; d++) {
      long[] ids = encoded[d];
      int[] tokens = new int[ids.length + extra];
      int at = 0;
      if (bosId != NONE) {
        tokens[at++] = bosId;
      }
      for (long id : ids) {
        tokens[at++] = (int) id;
      }
      if (eodId != NONE) {
        tokens[at] = eodId;
      }
      out[d] = tokens;
    }
    return out;
  }
}
