package dev.distillery.tokenize;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.TreeMap;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class ShardLayoutTest {
  @Test
  void rowsSpreadEvenlyOverTheFewestShards() {
    ShardLayout layout = new ShardLayout(10, 4);
    assertThat(layout.shards()).isEqualTo(3);
    Map<Integer, Long> sizes = new TreeMap<>();
    LongStream.range(0, 10).forEach(row -> sizes.merge(layout.shardOf(row), 1L, Long::sum));
    assertThat(sizes).containsExactly(Map.entry(0, 4L), Map.entry(1, 3L), Map.entry(2, 3L));
  }

  @Test
  void shardsAreContiguousAndOrdered() {
    ShardLayout layout = new ShardLayout(1000, 7);
    for (long row = 1; row < 1000; row++) {
      assertThat(layout.shardOf(row) - layout.shardOf(row - 1)).isBetween(0, 1);
    }
    assertThat(layout.shardOf(999)).isEqualTo(layout.shards() - 1);
  }

  @Test
  void noRowsNoShards() {
    assertThat(new ShardLayout(0, 10).shards()).isZero();
    assertThat(ShardLayout.fileName(7)).isEqualTo("part-00007.parquet");
  }
}
