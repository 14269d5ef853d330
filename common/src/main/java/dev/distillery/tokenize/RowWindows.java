package dev.distillery.tokenize;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Cuts a token row longer than a model's context into consecutive, non-overlapping windows of at most that many
 * tokens, so that no stage feeds a model positions beyond {@code max_position_embeddings}. A row that fits is one
 * window, unchanged. The last window of a cut row is left out when it holds a single token: on its own it has no
 * next token to predict.
 */
public final class RowWindows {
  private RowWindows() {}

  /**
   * The {@code [start, end)} bounds of the windows of a row of {@code length} tokens.
   *
   * @param window the most tokens a window holds, at least 2
   */
  public static List<int[]> bounds(int length, int window) {
    if (window < 2) {
      throw new IllegalArgumentException("a window needs at least 2 tokens, got " + window);
    }
    if (length <= window) {
      return List.of(new int[] {0, length});
    }
    List<int[]> bounds = new ArrayList<>();
    for (int start = 0; start < length; start += window) {
      int end = Math.min(length, start + window);
      if (end - start >= 2) {
        bounds.add(new int[] {start, end});
      }
    }
    return bounds;
  }

  /**
   * The {@link #bounds} of a row of {@code length} tokens, and after them, where they leave out a last window of one
   * token, that window: bounds that cover every position, for a stage that must give each token an entry.
   */
  public static List<int[]> covering(int length, int window) {
    List<int[]> bounds = bounds(length, window);
    int covered = bounds.get(bounds.size() - 1)[1];
    if (covered == length) {
      return bounds;
    }
    List<int[]> all = new ArrayList<>(bounds);
    all.add(new int[] {covered, length});
    return all;
  }

  /** Whether a row of {@code length} tokens is cut (is longer than {@code window}). */
  public static boolean cuts(int length, int window) {
    return length > window;
  }

  /** The windows of {@code row} (the row itself when it fits). */
  public static List<int[]> of(int[] row, int window) {
    if (!cuts(row.length, window)) {
      return List.of(row);
    }
    return bounds(row.length, window).stream().map(b -> Arrays.copyOfRange(row, b[0], b[1])).toList();
  }

  /** The windows of {@code row} (the row itself when it fits). */
  public static List<long[]> of(long[] row, int window) {
    if (!cuts(row.length, window)) {
      return List.of(row);
    }
    return bounds(row.length, window).stream().map(b -> Arrays.copyOfRange(row, b[0], b[1])).toList();
  }
}
