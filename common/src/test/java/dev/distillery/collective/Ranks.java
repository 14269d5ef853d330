package dev.distillery.collective;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.IntFunction;

/** Runs the ranks of a ring as threads of the test JVM over loopback. */
final class Ranks {
  static final CollectiveOptions OPTIONS = CollectiveOptions.loopback()
      .withTimeouts(Duration.ofSeconds(10), Duration.ofSeconds(10));

  /** What one rank does with its connected ring. */
  interface RankBody<T> {
    T run(RingAllReduce ring) throws Exception;
  }

  /** The outcome of one rank: its result or what it threw. */
  record Outcome<T>(T value, Throwable error) {}

  private Ranks() {}

  /** Sums {@code data} across the ring through a {@link DirectFloats} copy, and copies the result back. */
  static void allReduceSum(RingAllReduce ring, float[] data) {
    DirectFloats direct = DirectFloats.of(data);
    ring.allReduceSum(direct);
    System.arraycopy(direct.toArray(), 0, data, 0, data.length);
  }

  /** Runs {@code body} on every rank and returns the results in rank order; fails if any rank failed. */
  static <T> List<T> run(int worldSize, CollectiveOptions options, RankBody<T> body) {
    List<T> values = new ArrayList<>();
    for (Outcome<T> o : outcomes(worldSize, options, body)) {
      if (o.error() != null) {
        throw new AssertionError("a rank failed", o.error());
      }
      values.add(o.value());
    }
    return values;
  }

  static <T> List<T> run(int worldSize, RankBody<T> body) {
    return run(worldSize, OPTIONS, body);
  }

  /** Runs {@code body} on every rank (each closes its ring afterwards) and returns every rank's outcome. */
  static <T> List<Outcome<T>> outcomes(int worldSize, CollectiveOptions options, RankBody<T> body) {
    LocalRendezvous rendezvous = new LocalRendezvous(worldSize, Duration.ofSeconds(10));
    return outcomes(worldSize, rank -> options, rendezvous::forRank, body);
  }

  /** As {@link #outcomes(int, CollectiveOptions, RankBody)} with each rank's own options and rendezvous. */
  static <T> List<Outcome<T>> outcomes(int worldSize, IntFunction<CollectiveOptions> options,
      IntFunction<Rendezvous> rendezvous, RankBody<T> body) {
    ExecutorService pool = Executors.newFixedThreadPool(worldSize);
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (int rank = 0; rank < worldSize; rank++) {
        int r = rank;
        futures.add(pool.submit(() -> {
          try (RingAllReduce ring = RingAllReduce.connect(r, worldSize, rendezvous.apply(r), options.apply(r))) {
            return body.run(ring);
          }
        }));
      }
      List<Outcome<T>> outcomes = new ArrayList<>();
      for (Future<T> f : futures) {
        try {
          outcomes.add(new Outcome<>(f.get(60, TimeUnit.SECONDS), null));
        } catch (ExecutionException e) {
          outcomes.add(new Outcome<>(null, e.getCause()));
        }
      }
      return outcomes;
    } catch (InterruptedException | TimeoutException e) {
      throw new AssertionError("ranks did not finish", e);
    } finally {
      pool.shutdownNow();
    }
  }
}
