package dev.distillery.distill;

import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.function.IntFunction;

/**
 * Reads the sequences of the coming training steps on a background thread, at most {@code depth} steps ahead of
 * the step being trained, so that memory holds a few steps of token ids however large the corpus is.
 */
public final class StepReadAhead implements AutoCloseable {
  private record Item(int step, List<int[]> sequences, RuntimeException failure) {}

  private final BlockingQueue<Item> queue;
  private final Thread reader;

  /**
   * @param read the sequences of one step
   * @param firstStep the first step to read
   * @param endStep one past the last step
   * @param depth steps read ahead of the consumer, at least 1
   */
  public StepReadAhead(IntFunction<List<int[]>> read, int firstStep, int endStep, int depth) {
    this.queue = new ArrayBlockingQueue<>(Math.max(1, depth));
    this.reader = new Thread(() -> {
      try {
        for (int s = firstStep; s < endStep; s++) {
          queue.put(new Item(s, read.apply(s), null));
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException e) {
        try {
          queue.put(new Item(-1, null, e));
        } catch (InterruptedException stopped) {
          Thread.currentThread().interrupt();
        }
      }
    }, "distill-read-ahead");
    reader.setDaemon(true);
    reader.start();
  }

  /** The sequences of {@code step}; steps must be taken in order. */
  public List<int[]> take(int step) {
    Item item;
    try {
      item = queue.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the sequences of step " + (step + 1), e);
    }
    if (item.failure() != null) {
      throw item.failure();
    }
    if (item.step() != step) {
      throw new IllegalStateException("read ahead step " + (item.step() + 1) + ", expected step " + (step + 1));
    }
    return item.sequences();
  }

  /** Stops the reader. */
  @Override
  public void close() {
    reader.interrupt();
    try {
      reader.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
