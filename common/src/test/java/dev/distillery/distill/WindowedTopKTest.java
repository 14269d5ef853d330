package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class WindowedTopKTest {
  /**
   * A stand-in teacher whose single entry at each position is the token itself with the position within the
   * sequence it was given as log-probability, so a stored row shows which window each position was run in.
   */
  private static TopKLogits[] positionsSeen(long[][] batch, List<long[][]> calls) {
    calls.add(batch);
    TopKLogits[] out = new TopKLogits[batch.length];
    for (int r = 0; r < batch.length; r++) {
      int n = batch[r].length;
      float[] logProbs = new float[n];
      for (int t = 0; t < n; t++) {
        logProbs[t] = t;
      }
      out[r] = TopKLogits.encode(1, TopKLogits.Values.FLOAT32, Arrays.stream(batch[r]).mapToInt(v -> (int) v)
          .toArray(), logProbs, new float[n]);
    }
    return out;
  }

  @Test
  void longRowsRunAsWindowsOfOneLengthPerBatchAndAreJoinedBackInOrder() {
    int[] lengths = {3, 9, 4, 4, 10, 2, 4};
    List<long[]> rows = new ArrayList<>();
    long next = 0;
    for (int length : lengths) {
      rows.add(LongStream.range(next, next + length).toArray());
      next += length;
    }
    List<long[][]> calls = new ArrayList<>();
    Iterator<WindowedTopK.Scored> scored = new WindowedTopK(batch -> positionsSeen(batch, calls), 4, 3)
        .over(rows.iterator());
    for (long[] row : rows) {
      assertThat(scored.hasNext()).isTrue();
      WindowedTopK.Scored s = scored.next();
      assertThat(s.ids()).isEqualTo(row);
      assertThat(s.cut()).isEqualTo(row.length > 4);
      assertThat(s.logits().positions()).isEqualTo(row.length);
      for (int t = 0; t < row.length; t++) {
        assertThat(s.logits().id(t, 0)).isEqualTo(row[t]);
        assertThat(s.logits().logProb(t, 0)).as("row of %d, position %d", row.length, t).isEqualTo(t % 4);
      }
    }
    assertThat(scored.hasNext()).isFalse();
    for (long[][] batch : calls) {
      assertThat(Arrays.stream(batch).mapToInt(w -> w.length).distinct()).as("one length per call").hasSize(1);
    }
    // 3 | 4 4 (the 9) | 1 (its last) | 4, 4, 4 (the 4s, the 10's first) | 4 | 2 (the 10's last), 2 | 4
    assertThat(calls.stream().map(b -> b.length + "x" + b[0].length).toList())
        .containsExactly("1x3", "2x4", "1x1", "3x4", "1x4", "2x2", "1x4");
  }
}
