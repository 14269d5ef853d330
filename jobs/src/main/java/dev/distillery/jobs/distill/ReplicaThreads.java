package dev.distillery.jobs.distill;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * Runs a rank's work on all its devices at once, one thread per device (on the caller's thread when there is
 * one). The first failure interrupts the other devices, which stops those waiting for it in the local
 * reduction, and is rethrown.
 */
final class ReplicaThreads implements AutoCloseable {
  private final int devices;
  private final ExecutorService pool;

  ReplicaThreads(int devices, int rank) {
    this.devices = devices;
    int[] next = {0};
    this.pool = devices == 1 ? null : Executors.newFixedThreadPool(devices, task -> {
      Thread t = new Thread(task, "distill-rank-" + rank + "-device-" + next[0]++);
      t.setDaemon(true);
      return t;
    });
  }

  /** {@code work(d)} for every device {@code d}, results in device order. */
  <T> List<T> runOnEach(IntFunction<T> work) {
    if (pool == null) {
      return List.of(work.apply(0));
    }
    CompletionService<T> completions = new ExecutorCompletionService<>(pool);
    List<Future<T>> futures = new ArrayList<>();
    for (int d = 0; d < devices; d++) {
      int device = d;
      futures.add(completions.submit(() -> work.apply(device)));
    }
    try {
      for (int done = 0; done < devices; done++) {
        completions.take().get();
      }
      List<T> results = new ArrayList<>();
      for (Future<T> f : futures) {
        results.add(f.get());
      }
      return results;
    } catch (ExecutionException e) {
      futures.forEach(f -> f.cancel(true));
      throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      futures.forEach(f -> f.cancel(true));
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while the devices trained", e);
    }
  }

  @Override
  public void close() {
    if (pool != null) {
      pool.shutdownNow();
    }
  }
}
