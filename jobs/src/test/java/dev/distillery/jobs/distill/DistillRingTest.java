package dev.distillery.jobs.distill;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.collective.CollectiveException;
import dev.distillery.collective.DirectFloats;
import dev.distillery.collective.LocalRendezvous;
import dev.distillery.collective.RingAllReduce;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.Test;

/** The ring a distill rank joins: one per barrier stage attempt, so a rank of another attempt cannot join it. */
class DistillRingTest {
  private static final int STAGE = 7;

  /** Connects two ranks of stage {@link #STAGE}, rank {@code r} in attempt {@code attempt(r)}; each sums its rank + 1. */
  private static List<CompletableFuture<Float>> ring(IntUnaryOperator attempt) {
    LocalRendezvous rendezvous = new LocalRendezvous(2, Duration.ofSeconds(10));
    List<CompletableFuture<Float>> sums = new ArrayList<>();
    for (int r = 0; r < 2; r++) {
      int rank = r;
      sums.add(CompletableFuture.supplyAsync(() -> {
        try (RingAllReduce ring = RingAllReduce.connect(rank, 2, rendezvous.forRank(rank),
            DistillTask.ringOptions("127.0.0.1", "job secret", STAGE, attempt.applyAsInt(rank), 10))) {
          DirectFloats data = DirectFloats.of(rank + 1f);
          ring.allReduceSum(data);
          return data.get(0);
        }
      }));
    }
    return sums;
  }

  @Test
  void ranksOfOneStageAttemptFormTheRing() {
    assertThat(ring(rank -> 1)).allSatisfy(sum -> assertThat(sum.join()).isEqualTo(3f));
  }

  @Test
  void aRankOfAnotherAttemptIsRejected() {
    List<CompletableFuture<Float>> sums = ring(rank -> rank == 0 ? 0 : 1);
    List<Throwable> errors = new ArrayList<>();
    for (CompletableFuture<Float> sum : sums) {
      errors.add(sum.handle((value, error) -> error == null ? null : error.getCause()).join());
    }
    assertThat(errors).allSatisfy(e -> assertThat(e).isInstanceOf(CollectiveException.class));
    assertThat(errors).anySatisfy(e -> assertThat(e).hasMessageContaining("another session")
        .hasMessageContaining("stage " + STAGE + " attempt"));
  }
}
