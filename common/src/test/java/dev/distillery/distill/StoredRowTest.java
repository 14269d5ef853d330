package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.List;
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
  void aRowLongerThanTheWindowIsCutWithTheDistributionsOfItsPositions() {
    int positions = 7;
    int k = 2;
    int[] ids = new int[positions];
    int[] top = new int[positions * k];
    float[] logProbs = new float[positions * k];
    float[] tail = new float[positions];
    for (int t = 0; t < positions; t++) {
      ids[t] = 40 + t;
      tail[t] = -2f - t;
      for (int j = 0; j < k; j++) {
        top[t * k + j] = 10 * t + j;
        logProbs[t * k + j] = -0.25f * (j + 1) - t;
      }
    }
    for (TopKLogits.Values values : TopKLogits.Values.values()) {
      StoredRow row = new StoredRow(ids, TopKLogits.encode(k, values, top, logProbs, tail));
      assertThat(row.windows(7)).containsExactly(row);
      List<StoredRow> windows = row.windows(3); // [0, 3), [3, 6); the one-token tail [6, 7) is left out
      assertThat(windows).extracting(w -> w.ids().length).containsExactly(3, 3);
      StoredRow second = StoredRow.fromRecord(windows.get(1).toRecord(), "r");
      assertThat(second.ids()).containsExactly(43, 44, 45);
      for (int t = 0; t < 3; t++) {
        assertThat(second.logits().tailLogMass(t)).isEqualTo(row.logits().tailLogMass(3 + t));
        for (int j = 0; j < k; j++) {
          assertThat(second.logits().id(t, j)).isEqualTo(30 + 10 * t + j);
          assertThat(second.logits().logProb(t, j)).isEqualTo(row.logits().logProb(3 + t, j));
        }
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
