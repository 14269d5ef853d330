package dev.distillery.tokenize;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Cuts one globally ordered token stream (all documents of a split, back to back) into rows of
 * {@code rowLength} tokens. Without a row-start token, token {@code p} of the stream lands in row
 * {@code p / rowLength} at column {@code p % rowLength}. With one (BOS-aligned packing), every row starts with
 * that token and holds {@code rowLength - 1} stream tokens after it: token {@code p} lands in row
 * {@code p / (rowLength - 1)} at column {@code 1 + p % (rowLength - 1)}. The tail that does not fill a whole row
 * is dropped and counted.
 */
public final class Packing implements java.io.Serializable {
  private final int rowLength;
  private final int rowStartId;
  private final int offset;
  private final int stride;
  private final long totalTokens;
  private final long rows;

  /** Plain packing: rows are consecutive runs of the stream. */
  public Packing(int rowLength, long totalTokens) {
    this(rowLength, totalTokens, DocumentEncoder.NONE);
  }

  /**
   * @param rowStartId the id every row starts with, or {@link DocumentEncoder#NONE} for plain packing
   */
  public Packing(int rowLength, long totalTokens, int rowStartId) {
    int minimum = rowStartId == DocumentEncoder.NONE ? 2 : 3;
    if (rowLength < minimum) {
      throw new IllegalArgumentException("row length must be at least " + minimum + ", got " + rowLength);
    }
    this.rowLength = rowLength;
    this.rowStartId = rowStartId;
    this.offset = rowStartId == DocumentEncoder.NONE ? 0 : 1;
    this.stride = rowLength - offset;
    this.totalTokens = totalTokens;
    this.rows = totalTokens / stride;
  }

  /** Tokens per row, the row-start token included. */
  public int rowLength() {
    return rowLength;
  }

  /** Full rows in the stream. */
  public long rows() {
    return rows;
  }

  /** Tokens of the final partial row, which no row holds. */
  public long droppedTokens() {
    return totalTokens - rows * stride;
  }

  /** The pieces of a document whose first token is at stream position {@code start}, dropped tail left out. */
  public List<Fragment> fragments(long start, int[] tokens) {
    List<Fragment> pieces = new ArrayList<>();
    int from = 0;
    while (from < tokens.length) {
      long position = start + from;
      long row = position / stride;
      if (row >= rows) {
        break;
      }
      int inRow = (int) (position % stride);
      int to = Math.min(tokens.length, from + stride - inRow);
      pieces.add(new Fragment(row, offset + inRow, Arrays.copyOfRange(tokens, from, to)));
      from = to;
    }
    return pieces;
  }

  /** Position of a fragment's first token in the rows laid end to end: the key that orders fragments. */
  public long position(Fragment fragment) {
    return fragment.row() * rowLength + fragment.column();
  }

  /**
   * The rows made of {@code fragments}, which must be every fragment of a run of consecutive rows, sorted by
   * position.
   *
   * @throws IllegalStateException (while iterating) when a fragment is missing or out of place
   */
  public Iterator<int[]> rows(Iterator<Fragment> fragments) {
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return fragments.hasNext();
      }

      @Override
      public int[] next() {
        if (!fragments.hasNext()) {
          throw new NoSuchElementException();
        }
        int[] row = new int[rowLength];
        if (offset == 1) {
          row[0] = rowStartId;
        }
        int filled = offset;
        long rowIndex = -1;
        while (filled < rowLength) {
          if (!fragments.hasNext()) {
            throw new IllegalStateException("row " + rowIndex + " ends after " + filled + " of " + rowLength + " tokens");
          }
          Fragment f = fragments.next();
          if (filled == offset) {
            rowIndex = f.row();
          }
          if (f.row() != rowIndex || f.column() != filled) {
            throw new IllegalStateException("expected row " + rowIndex + " column " + filled + ", got row " + f.row()
                + " column " + f.column());
          }
          System.arraycopy(f.tokens(), 0, row, filled, f.tokens().length);
          filled += f.tokens().length;
        }
        return row;
      }
    };
  }

  /** A run of a document's tokens that lands in row {@code row} from column {@code column}. */
  public record Fragment(long row, int column, int[] tokens) implements java.io.Serializable {}
}
