package dev.distillery.collective;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * The float all-reduce of a ring, pipelined in slices. Per bucket the ring runs 2(N-1) steps (N-1 of
 * reduce-scatter, N-1 of all-gather); in every step after the first a rank sends on the chunk it received
 * in the step before. A receiver (the calling thread) adds or copies each slice into the buffer as it
 * arrives and publishes how far it got; a sender thread forwards each slice as soon as it is there, so
 * sending, receiving and adding overlap across steps and buckets instead of waiting for whole chunks.
 *
 * <p>Safe to share the buffer between the two threads: the sender reads only slices the receiver has
 * published (or, in a bucket's first step, the rank's own chunk), and a slice the receiver overwrites can
 * only arrive after this rank has sent what it held there, because it travelled around the ring since.
 */
final class RingReducePipeline {
  private static final int SLICE_FLOATS = 128 << 10;

  private final int rank;
  private final int worldSize;
  private final RingLinks links;
  private final ExecutorService sender;
  private final ByteBuffer sendBytes = slice();
  private final ByteBuffer receiveBytes = slice();
  private final FloatBuffer sendFloats = sendBytes.asFloatBuffer();
  private final FloatBuffer receiveFloats = receiveBytes.asFloatBuffer();
  private final AtomicReference<CollectiveException> firstFailure = new AtomicReference<>();
  private volatile long receivedFloats;
  private volatile Thread senderThread;

  RingReducePipeline(int rank, int worldSize, RingLinks links) {
    this.rank = rank;
    this.worldSize = worldSize;
    this.links = links;
    this.sender = Executors.newSingleThreadExecutor(task -> {
      Thread t = new Thread(task, "ring-sender-rank-" + rank);
      t.setDaemon(true);
      return t;
    });
  }

  private static ByteBuffer slice() {
    return ByteBuffer.allocateDirect(SLICE_FLOATS * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
  }

  /** Sums {@code data} across the ring in place, bucket by bucket. */
  void allReduceSum(float[] data, int bucketFloats) {
    receivedFloats = 0;
    Future<?> sent = sender.submit(() -> run(() -> sendAll(data, bucketFloats)));
    try {
      run(() -> receiveAll(data, bucketFloats));
    } finally {
      LockSupport.unpark(senderThread);
      awaitSender(sent);
    }
    CollectiveException failure = firstFailure.get();
    if (failure != null) {
      throw failure;
    }
  }

  void close() {
    sender.shutdownNow();
  }

  /** Runs one side; its failure, if the first, closes the links so that the other side stops too. */
  private void run(Runnable side) {
    try {
      side.run();
    } catch (CollectiveException e) {
      if (firstFailure.compareAndSet(null, e)) {
        links.close();
      }
    } catch (RuntimeException e) {
      if (firstFailure.compareAndSet(null, new CollectiveException("rank " + rank + ": " + e, e))) {
        links.close();
      }
    }
  }

  private void awaitSender(Future<?> sent) {
    try {
      sent.get();
    } catch (ExecutionException e) {
      firstFailure.compareAndSet(null, new CollectiveException("rank " + rank + ": sender failed", e));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      firstFailure.compareAndSet(null, new CollectiveException("rank " + rank + ": interrupted", e));
    }
  }

  private void sendAll(float[] data, int bucketFloats) {
    senderThread = Thread.currentThread();
    long receiveCursor = 0;
    for (int offset = 0; offset < data.length; offset += bucketFloats) {
      Bucket bucket = new Bucket(offset, Math.min(bucketFloats, data.length - offset));
      for (int step = 0; step < 2 * (worldSize - 1); step++) {
        int chunk = sendChunk(step);
        int from = bucket.start(chunk);
        int count = bucket.start(chunk + 1) - from;
        long publishedBefore = receiveCursor - count;
        for (int done = 0; done < count; ) {
          int n = Math.min(SLICE_FLOATS, count - done);
          if (step > 0) {
            n = (int) Math.min(n, awaitReceived(publishedBefore + done) - publishedBefore - done);
          }
          sendFloats.put(0, data, from + done, n);
          sendBytes.clear().limit(n * Float.BYTES);
          links.sending().transferAll(sendBytes, describe(bucket, step));
          done += n;
        }
        int received = receiveChunk(step);
        receiveCursor += bucket.start(received + 1) - bucket.start(received);
      }
    }
  }

  /** Waits until the receiver has published more than {@code floats}; returns how many it has. */
  private long awaitReceived(long floats) {
    long available;
    while ((available = receivedFloats) <= floats) {
      if (firstFailure.get() != null) {
        throw new CollectiveException("rank " + rank + ": stopped sending, the receiver failed");
      }
      LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(10));
    }
    return available;
  }

  private void receiveAll(float[] data, int bucketFloats) {
    long published = 0;
    for (int offset = 0; offset < data.length; offset += bucketFloats) {
      Bucket bucket = new Bucket(offset, Math.min(bucketFloats, data.length - offset));
      for (int step = 0; step < 2 * (worldSize - 1); step++) {
        int chunk = receiveChunk(step);
        int from = bucket.start(chunk);
        int count = bucket.start(chunk + 1) - from;
        boolean add = step < worldSize - 1;
        for (int done = 0; done < count; ) {
          int n = Math.min(SLICE_FLOATS, count - done);
          receiveBytes.clear().limit(n * Float.BYTES);
          links.receiving().transferAll(receiveBytes, describe(bucket, step));
          if (add) {
            addReceived(data, from + done, n);
          } else {
            receiveFloats.get(0, data, from + done, n);
          }
          done += n;
          published += n;
          receivedFloats = published;
          LockSupport.unpark(senderThread);
        }
      }
    }
  }

  private void addReceived(float[] data, int from, int n) {
    for (int i = 0; i < n; i++) {
      data[from + i] += receiveFloats.get(i);
    }
  }

  /** Reduce-scatter step s sends chunk rank - s; all-gather step s sends chunk rank + 1 - s. */
  private int sendChunk(int step) {
    return Math.floorMod(step < worldSize - 1 ? rank - step : rank + 1 - (step - worldSize + 1), worldSize);
  }

  /** Each step receives the chunk that the left neighbour sends: its own send chunk of that step. */
  private int receiveChunk(int step) {
    return Math.floorMod(sendChunk(step) - 1, worldSize);
  }

  private Supplier<String> describe(Bucket bucket, int step) {
    return () -> String.format("all-reduce (bucket of %d floats at %d), %s step %d of %d", bucket.length,
        bucket.offset, step < worldSize - 1 ? "reduce-scatter" : "all-gather", step + 1, 2 * (worldSize - 1));
  }

  /** One bucket of the buffer, cut into N chunks whose sizes differ by at most one. */
  private final class Bucket {
    final int offset;
    final int length;

    Bucket(int offset, int length) {
      this.offset = offset;
      this.length = length;
    }

    /** Start of chunk {@code chunk} (0 to N, N meaning the end) in the buffer. */
    int start(int chunk) {
      return offset + (int) ((long) length * chunk / worldSize);
    }
  }
}
