package dev.distillery.collective;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RingAllReduceTest {
  private static final int[] LENGTHS = {0, 1, 2, 3, 4, 5, 7, 64, 1000, 4099};

  /** Small integers: their float sums are exact in any order, so results must equal a sequential sum. */
  private static float[] integers(int rank, int length) {
    float[] data = new float[length];
    for (int i = 0; i < length; i++) {
      data[i] = (i * 7 + rank * 13) % 101 - 50;
    }
    return data;
  }

  private static float[] randoms(int rank, int length, long seed) {
    Random random = new Random(seed * 31 + rank);
    float[] data = new float[length];
    for (int i = 0; i < length; i++) {
      data[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(7) - 3));
    }
    return data;
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void sumsUnevenAndEmptyBuffersExactly(int worldSize) {
    // 16-float buckets: the longer buffers take many buckets, the short ones leave chunks empty.
    List<List<float[]>> results = Ranks.run(worldSize, Ranks.OPTIONS.withBucketBytes(64), ring -> {
      List<float[]> out = new ArrayList<>();
      for (int length : LENGTHS) {
        float[] data = integers(ring.rank(), length);
        Ranks.allReduceSum(ring, data);
        out.add(data);
      }
      return out;
    });
    for (int i = 0; i < LENGTHS.length; i++) {
      float[] expected = new float[LENGTHS[i]];
      for (int r = 0; r < worldSize; r++) {
        float[] x = integers(r, LENGTHS[i]);
        for (int j = 0; j < x.length; j++) {
          expected[j] += x[j];
        }
      }
      for (int r = 0; r < worldSize; r++) {
        assertThat(results.get(r).get(i)).as("length %d on rank %d", LENGTHS[i], r).containsExactly(expected);
      }
    }
  }

  /**
   * Reduce-scatter leaves each rank its shard summed, the shards tiling the buffer; all-gather then gives every rank
   * every rank's shard (here overwritten with values that name the rank).
   */
  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void reduceScatterSumsEachRanksShardAndAllGatherSharesThem(int worldSize) {
    List<List<Object[]>> results = Ranks.run(worldSize, ring -> {
      List<Object[]> out = new ArrayList<>();
      for (int length : LENGTHS) {
        DirectFloats data = DirectFloats.of(integers(ring.rank(), length));
        ring.reduceScatterSum(data);
        Shard shard = ring.shard(length);
        float[] summed = Arrays.copyOfRange(data.toArray(), shard.from(), shard.to());
        for (int i = shard.from(); i < shard.to(); i++) {
          data.put(i, ring.rank() * 10_000 + i);
        }
        ring.allGather(data);
        out.add(new Object[] {shard, summed, data.toArray()});
      }
      return out;
    });
    for (int i = 0; i < LENGTHS.length; i++) {
      int length = LENGTHS[i];
      float[] expected = new float[length];
      float[] gathered = new float[length];
      int covered = 0;
      for (int r = 0; r < worldSize; r++) {
        add(expected, integers(r, length));
        Shard shard = (Shard) results.get(r).get(i)[0];
        covered += shard.length();
        for (int j = shard.from(); j < shard.to(); j++) {
          gathered[j] = r * 10_000 + j;
        }
      }
      assertThat(covered).as("the shards tile a buffer of %d", length).isEqualTo(length);
      for (int r = 0; r < worldSize; r++) {
        Shard shard = (Shard) results.get(r).get(i)[0];
        assertThat((float[]) results.get(r).get(i)[1]).as("rank %d's summed shard of %d", r, length)
            .containsExactly(Arrays.copyOfRange(expected, shard.from(), shard.to()));
        assertThat((float[]) results.get(r).get(i)[2]).as("gathered on rank %d", r).containsExactly(gathered);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 3, 4})
  void randomSumsAreBitIdenticalAcrossRanksAndRuns(int worldSize) {
    int length = 100_003;
    List<float[][]> results = Ranks.run(worldSize, Ranks.OPTIONS.withBucketBytes(40_000), ring -> {
      float[] first = randoms(ring.rank(), length, 1);
      float[] second = randoms(ring.rank(), length, 1);
      Ranks.allReduceSum(ring, first);
      Ranks.allReduceSum(ring, second);
      return new float[][] {first, second};
    });
    float[] reference = results.get(0)[0];
    for (float[][] rankResult : results) {
      assertThat(Arrays.equals(rankResult[0], reference)).as("first call equal to rank 0's").isTrue();
      assertThat(Arrays.equals(rankResult[1], reference)).as("second call equal to rank 0's").isTrue();
    }
    float[][] inputs = new float[worldSize][];
    for (int r = 0; r < worldSize; r++) {
      inputs[r] = randoms(r, length, 1);
    }
    double worstRelativeError = 0;
    for (int j = 0; j < length; j++) {
      double expected = 0;
      double magnitude = 0;
      for (float[] input : inputs) {
        expected += input[j];
        magnitude += Math.abs(input[j]);
      }
      worstRelativeError = Math.max(worstRelativeError, Math.abs(reference[j] - expected) / magnitude);
    }
    assertThat(worstRelativeError).isLessThan(1e-6);
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 3})
  void manyConsecutiveOperationsStayInStep(int worldSize) {
    List<Boolean> ok = Ranks.run(worldSize, Ranks.OPTIONS.withBucketBytes(256), ring -> {
      for (int call = 0; call < 300; call++) {
        int length = (call * 37) % 200;
        float[] data = integers(ring.rank() + call, length);
        Ranks.allReduceSum(ring, data);
        float[] expected = new float[length];
        for (int r = 0; r < worldSize; r++) {
          float[] x = integers(r + call, length);
          for (int j = 0; j < length; j++) {
            expected[j] += x[j];
          }
        }
        assertThat(data).containsExactly(expected);
        assertThat(ring.allReduceSum((long) call)).isEqualTo((long) call * worldSize);
      }
      return true;
    });
    assertThat(ok).containsOnly(true);
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 3})
  void scalarsAndBarrier(int worldSize) {
    List<Boolean> ok = Ranks.run(worldSize, ring -> {
      int r = ring.rank();
      assertThat(ring.allGather(100L + r)).containsExactly(
          java.util.stream.LongStream.range(0, worldSize).map(x -> 100 + x).toArray());
      assertThat(ring.allReduceSum((long) r + 1)).isEqualTo((long) worldSize * (worldSize + 1) / 2);
      assertThat(ring.allReduceSum(0.1 * (r + 1))).isEqualTo(sumInRankOrder(worldSize));
      ring.barrier();
      return true;
    });
    assertThat(ok).containsOnly(true);
  }

  private static double sumInRankOrder(int worldSize) {
    double sum = 0;
    for (int r = 0; r < worldSize; r++) {
      sum += 0.1 * (r + 1);
    }
    return sum;
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 3})
  void checkSameFailsOnEveryRankOnDivergenceAndTheRingStaysUsable(int worldSize) {
    List<String> messages = Ranks.run(worldSize, ring -> {
      ring.checkSame(42, "weights hash");
      String message = null;
      try {
        ring.checkSame(ring.rank() == worldSize - 1 ? 7 : 42, "weights hash");
      } catch (CollectiveException e) {
        message = e.getMessage();
      }
      float[] data = {1};
      Ranks.allReduceSum(ring, data);
      assertThat(data).containsExactly(worldSize);
      return message;
    });
    if (worldSize == 1) {
      assertThat(messages).containsOnlyNulls();
    } else {
      assertThat(messages).allSatisfy(m -> assertThat(m).contains("weights hash differs across ranks")
          .contains("rank 0=42").contains("rank " + (worldSize - 1) + "=7"));
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 4})
  void asyncOperationsRunInCallOrder(int worldSize) {
    List<float[][]> results = Ranks.run(worldSize, Ranks.OPTIONS.withBucketBytes(4096), ring -> {
      DirectFloats a = DirectFloats.of(integers(ring.rank(), 10_000));
      DirectFloats b = DirectFloats.of(integers(ring.rank() + 1, 333));
      CompletableFuture<Void> fa = ring.allReduceSumAsync(a);
      CompletableFuture<Void> fb = ring.allReduceSumAsync(b);
      CompletableFuture.allOf(fa, fb).join();
      return new float[][] {a.toArray(), b.toArray()};
    });
    float[] expectedA = new float[10_000];
    float[] expectedB = new float[333];
    for (int r = 0; r < worldSize; r++) {
      add(expectedA, integers(r, 10_000));
      add(expectedB, integers(r + 1, 333));
    }
    for (float[][] r : results) {
      assertThat(r[0]).containsExactly(expectedA);
      assertThat(r[1]).containsExactly(expectedB);
    }
  }

  static void add(float[] target, float[] x) {
    for (int i = 0; i < x.length; i++) {
      target[i] += x[i];
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 4})
  void largeBufferOverSeveralBuckets(int worldSize) {
    int length = 3_000_001;
    List<Float> checks = Ranks.run(worldSize, Ranks.OPTIONS.withBucketBytes(4 << 20), ring -> {
      float[] data = integers(ring.rank(), length);
      Ranks.allReduceSum(ring, data);
      float[] expected = new float[length];
      for (int r = 0; r < worldSize; r++) {
        add(expected, integers(r, length));
      }
      assertThat(Arrays.equals(data, expected)).isTrue();
      return data[length - 1];
    });
    assertThat(checks).hasSize(worldSize);
  }
}
