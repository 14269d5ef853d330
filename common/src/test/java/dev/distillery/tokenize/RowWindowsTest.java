package dev.distillery.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class RowWindowsTest {
  @Test
  void aRowThatFitsIsItsOnlyWindowUnchanged() {
    int[] row = {5, 6, 7};
    assertThat(RowWindows.of(row, 3)).containsExactly(row);
    assertThat(RowWindows.of(row, 3).get(0)).isSameAs(row);
    assertThat(RowWindows.of(new long[] {9}, 4)).containsExactly(new long[] {9});
    assertThat(RowWindows.cuts(3, 3)).isFalse();
    assertThat(RowWindows.cuts(4, 3)).isTrue();
  }

  @Test
  void aLongerRowIsCutIntoConsecutiveWindowsAndAOneTokenTailIsLeftOut() {
    int[] row = IntStream.range(0, 9).toArray();
    assertThat(RowWindows.of(row, 4)).containsExactly(new int[] {0, 1, 2, 3}, new int[] {4, 5, 6, 7});
    assertThat(RowWindows.of(IntStream.range(0, 10).asLongStream().toArray(), 4))
        .containsExactly(new long[] {0, 1, 2, 3}, new long[] {4, 5, 6, 7}, new long[] {8, 9});
    List<int[]> bounds = RowWindows.bounds(600, 256);
    assertThat(bounds).containsExactly(new int[] {0, 256}, new int[] {256, 512}, new int[] {512, 600});
  }

  @Test
  void coveringBoundsAddTheOneTokenTailThatBoundsLeaveOut() {
    assertThat(RowWindows.covering(9, 4)).containsExactly(new int[] {0, 4}, new int[] {4, 8}, new int[] {8, 9});
    assertThat(RowWindows.covering(10, 4)).containsExactly(new int[] {0, 4}, new int[] {4, 8}, new int[] {8, 10});
    assertThat(RowWindows.covering(3, 4)).containsExactly(new int[] {0, 3});
  }

  @Test
  void aWindowOfFewerThanTwoTokensIsRefused() {
    assertThatThrownBy(() -> RowWindows.bounds(5, 1)).hasMessageContaining("at least 2 tokens, got 1");
  }
}
