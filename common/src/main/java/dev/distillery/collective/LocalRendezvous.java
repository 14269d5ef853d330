package dev.distillery.collective;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A {@link Rendezvous} for ranks that are threads of one JVM (tests, local mode): {@link #forRank} gives
 * each rank its view. Reusable for any number of rounds; a rank that does not arrive within the timeout
 * breaks the round for all.
 */
public final class LocalRendezvous {
  private final String[] values;
  private final CyclicBarrier barrier;
  private final Duration timeout;
  private volatile List<String> gathered;

  public LocalRendezvous(int worldSize, Duration timeout) {
    if (worldSize < 1) {
      throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
    }
    this.values = new String[worldSize];
    this.barrier = new CyclicBarrier(worldSize, () -> gathered = List.of(values.clone()));
    this.timeout = timeout;
  }

  /** The rendezvous as seen by {@code rank}. */
  public Rendezvous forRank(int rank) {
    if (rank < 0 || rank >= values.length) {
      throw new IllegalArgumentException("rank " + rank + " outside world of " + values.length);
    }
    return value -> allGather(rank, value);
  }

  private List<String> allGather(int rank, String value) {
    values[rank] = value;
    try {
      barrier.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException | BrokenBarrierException e) {
      throw new CollectiveException("rank " + rank + ": local rendezvous of " + values.length
          + " ranks did not complete within " + timeout.toMillis() + " ms", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CollectiveException("rank " + rank + ": interrupted in local rendezvous", e);
    }
    return gathered;
  }

  @Override
  public String toString() {
    return "LocalRendezvous" + Arrays.toString(values);
  }
}
