package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class StoredRowTest {
  @Test
  void aRecordGivesBackTheRowAndItsDistributionByteForByte() {
    for (TopKLogits.Values values : TopKLogits.Values.values()) {
      for (int positions : new int[] {1, 2, 5}) { // odd positions × (k + 1) float16s need padding to an int32
        int k = 3;
        int[] ids = new int[positions];
        int[] top = new int[positions * k];
        float[] logProbs = new float[positions * k];
        float[] tail = new float[positions];
        for (int t = 0; t < positions; t++) {
          ids[t] = 100 + t;
          tail[t] = -3f - t;
          for (int j = 0; j < k; j++) {
            top[t * k + j] = 7 * t + j;
            logProbs[t * k + j] = -0.5f * (j + 1) - t;
          }
        }
        TopKLogits logits = TopKLogits.encode(k, values, top, logProbs, tail);
        StoredRow back = StoredRow.fromRecord(new StoredRow(ids, logits).toRecord(), "r");
        assertThat(back.ids()).containsExactly(ids);
        assertThat(back.logits().k()).isEqualTo(k);
        assertThat(back.logits().values()).isEqualTo(values);
        assertThat(back.logits().idBytes()).isEqualTo(logits.idBytes());
        assertThat(back.logits().logProbBytes()).isEqualTo(logits.logProbBytes());
        assertThat(back.logits().tailBytes()).isEqualTo(logits.tailBytes());
      }
    }
  }

  @Test
  void aTruncatedRecordIsNamed() {
    TopKLogits logits = TopKLogits.encode(2, TopKLogits.Values.FLOAT32, new int[] {1, 2, 3, 4},
        new float[] {-1, -2, -3, -4}, new float[] {-5, -6});
    int[] record = new StoredRow(new int[] {9, 8}, logits).toRecord();
    assertThatThrownBy(() -> StoredRow.fromRecord(Arrays.copyOf(record, record.length - 1), "order part-00003"))
        .hasMessageStartingWith("order part-00003").hasMessageContaining("truncated");
    assertThatThrownBy(() -> StoredRow.fromRecord(new int[] {5, 2}, "order part-00003"))
        .hasMessageContaining("truncated");
  }
}
