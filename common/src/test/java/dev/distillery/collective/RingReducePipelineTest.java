package dev.distillery.collective;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RingReducePipelineTest {
  /** Integers, so that sums are exact in any order. */
  private static float[] input(int rank, int length) {
    float[] data = new float[length];
    for (int i = 0; i < length; i++) {
      data[i] = (i + 3 * rank) % 17;
    }
    return data;
  }

  /**
   * With no spare slice buffers the middle reduce-scatter step adds into the data and forwards from there;
   * with one, the two paths mix.
   */
  @ParameterizedTest
  @ValueSource(ints = {0, 1})
  void multiSliceChunksSumExactlyWhateverPathASliceTakes(int forwardSlices) {
    int worldSize = 3;
    int length = 1_000_003; // chunks of ~333k floats: eleven slices each, the last one short
    LocalRendezvous rendezvous = new LocalRendezvous(worldSize, Duration.ofSeconds(10));
    List<CompletableFuture<float[]>> ranks = new ArrayList<>();
    for (int r = 0; r < worldSize; r++) {
      int rank = r;
      ranks.add(CompletableFuture.supplyAsync(() -> {
        RingLinks links = RingConnector.connect(rank, worldSize, rendezvous.forRank(rank), Ranks.OPTIONS);
        RingReducePipeline pipeline = new RingReducePipeline(rank, worldSize, links, forwardSlices);
        try {
          DirectFloats data = DirectFloats.of(input(rank, length));
          pipeline.allReduceSum(data, length);
          return data.toArray();
        } finally {
          pipeline.close();
          links.close();
        }
      }, task -> new Thread(task).start()));
    }
    float[] expected = new float[length];
    for (int r = 0; r < worldSize; r++) {
      RingAllReduceTest.add(expected, input(r, length));
    }
    for (CompletableFuture<float[]> rank : ranks) {
      assertThat(Arrays.equals(rank.join(), expected)).isTrue();
    }
  }
}
