package dev.distillery.distill;

import dev.distillery.tokenize.RowWindows;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Function;

/**
 * The stored distributions of token rows as a teacher sees them within its context: a row longer than the window
 * (the teacher's max_position_embeddings) is cut into consecutive windows of it ({@link RowWindows}), each run on its
 * own, as the online teacher runs the windows distillation cuts; the row's distributions are its windows' joined. A
 * last window of one token, which distillation leaves out, is run alone too (the teacher's prediction after that one
 * token), so every position keeps an entry. Consecutive windows of one length, of one row or of several, share a
 * forward pass of at most {@code batchSize} windows, so one pass holds at most {@code batchSize × window} tokens
 * however long a row is.
 */
public final class WindowedTopK {
  private final Function<long[][], TopKLogits[]> topK;
  private final int window;
  private final int batchSize;

  /**
   * @param topK the distributions of rows of one length, one per row ({@link TeacherTopK#of})
   * @param window the most tokens the teacher sees at once, at least 2
   * @param batchSize the most windows one call of {@code topK} gets
   */
  public WindowedTopK(Function<long[][], TopKLogits[]> topK, int window, int batchSize) {
    if (window < 2 || batchSize < 1) {
      throw new IllegalArgumentException("a window of at least 2 tokens and a batch of at least 1 needed, got "
          + window + " and " + batchSize);
    }
    this.topK = topK;
    this.window = window;
    this.batchSize = batchSize;
  }

  /**
   * A token row and its distributions.
   *
   * @param cut whether the row was longer than the window (run as several windows)
   */
  public record Scored(long[] ids, TopKLogits logits, boolean cut) {}

  /** The distributions of {@code rows}, in their order, computed lazily as they are asked for. */
  public Iterator<Scored> over(Iterator<long[]> rows) {
    return new Iterator<>() {
      private final ArrayDeque<Piece> pieces = new ArrayDeque<>();
      private final ArrayDeque<Assembly> open = new ArrayDeque<>();

      @Override
      public boolean hasNext() {
        while ((open.isEmpty() || !open.peek().done()) && (!pieces.isEmpty() || rows.hasNext())) {
          runBatch();
        }
        return !open.isEmpty();
      }

      @Override
      public Scored next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return open.poll().scored();
      }

      /** Up to batch-size consecutive windows of the first one's length, through the teacher. */
      private void runBatch() {
        if (pieces.isEmpty()) {
          cut(rows.next());
        }
        List<Piece> batch = new ArrayList<>();
        batch.add(pieces.poll());
        int length = batch.get(0).tokens().length;
        while (batch.size() < batchSize) {
          if (pieces.isEmpty()) {
            if (!rows.hasNext()) {
              break;
            }
            cut(rows.next());
          }
          if (pieces.peek().tokens().length != length) {
            break;
          }
          batch.add(pieces.poll());
        }
        TopKLogits[] out = topK.apply(batch.stream().map(Piece::tokens).toArray(long[][]::new));
        for (int i = 0; i < out.length; i++) {
          batch.get(i).row().parts[batch.get(i).index()] = out[i];
        }
      }

      private void cut(long[] row) {
        boolean cut = RowWindows.cuts(row.length, window);
        List<int[]> bounds = RowWindows.covering(row.length, window); // the whole row when it fits
        Assembly assembly = new Assembly(row, new TopKLogits[bounds.size()], cut);
        open.add(assembly);
        for (int i = 0; i < bounds.size(); i++) {
          int[] b = bounds.get(i);
          pieces.add(new Piece(assembly, i, cut ? Arrays.copyOfRange(row, b[0], b[1]) : row));
        }
      }
    };
  }

  /** A window of a row, the {@code index}th. */
  private record Piece(Assembly row, int index, long[] tokens) {}

  /** A row whose windows' distributions are being gathered. */
  private record Assembly(long[] ids, TopKLogits[] parts, boolean cut) {
    boolean done() {
      return Arrays.stream(parts).allMatch(p -> p != null);
    }

    Scored scored() {
      return new Scored(ids, parts.length == 1 ? parts[0] : TopKLogits.concat(List.of(parts)), cut);
    }
  }
}
