package dev.distillery.collective;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * The float all-reduce of a ring, pipelined in slices. Per bucket the ring runs 2(N-1) steps (N-1 of
 * reduce-scatter, N-1 of all-gather); in every step after the first a rank sends on the chunk it received
 * in the step before. A receiver (the calling thread) adds or copies each slice into the buffer as it
 * arrives and hands it to a sender thread, which forwards it at once, mostly straight from the direct
 * buffer it arrived in; so sending, receiving and adding overlap across steps and buckets instead of
 * waiting for whole chunks, and each float is copied between Java and socket buffers only once per step.
 *
 * <p>Safe to share the buffer between the two threads: the sender reads from it only the rank's own chunk
 * (a bucket's first step) and slices the receiver has handed over, and a slice the receiver overwrites can
 * only arrive after this rank has sent what it held there, because it travelled around the ring since.
 */
final class RingReducePipeline {
  private static final int SLICE_FLOATS = 128 << 10;
  /** Slices a receiver may hand to the sender in their own buffers before it falls back to the array. */
  static final int DEFAULT_FORWARD_SLICES = 4;
  /** Queued in place of a slice that the receiver left in the buffer only, to be copied from there. */
  private static final Slice IN_BUFFER = new Slice(0);

  private final int rank;
  private final int worldSize;
  private final RingLinks links;
  private final ExecutorService sender;
  private final Slice ownSlice = new Slice(SLICE_FLOATS);
  private final Slice fallbackSlice = new Slice(SLICE_FLOATS);
  private final BlockingQueue<Slice> freeSlices = new LinkedBlockingQueue<>();
  private final BlockingQueue<Slice> forwardSlices = new LinkedBlockingQueue<>();
  private final AtomicReference<CollectiveException> firstFailure = new AtomicReference<>();

  RingReducePipeline(int rank, int worldSize, RingLinks links, int forwardSlices) {
    this.rank = rank;
    this.worldSize = worldSize;
    this.links = links;
    for (int i = 0; i < forwardSlices; i++) {
      freeSlices.add(new Slice(SLICE_FLOATS));
    }
    this.sender = Executors.newSingleThreadExecutor(task -> {
      Thread t = new Thread(task, "ring-sender-rank-" + rank);
      t.setDaemon(true);
      return t;
    });
  }

  /** A direct buffer of one slice, as bytes for the channel and as floats for the arithmetic. */
  private static final class Slice {
    final ByteBuffer bytes;
    final FloatBuffer floats;

    Slice(int capacityFloats) {
      bytes = ByteBuffer.allocateDirect(capacityFloats * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
      floats = bytes.asFloatBuffer();
    }

    ByteBuffer sized(int floatCount) {
      bytes.clear().limit(floatCount * Float.BYTES);
      return bytes;
    }
  }

  /** Sums {@code data} across the ring in place, bucket by bucket. */
  void allReduceSum(float[] data, int bucketFloats) {
    Future<?> sent = sender.submit(() -> run(() -> sendAll(data, bucketFloats)));
    try {
      run(() -> receiveAll(data, bucketFloats));
    } finally {
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
    for (int offset = 0; offset < data.length; offset += bucketFloats) {
      Bucket bucket = new Bucket(offset, Math.min(bucketFloats, data.length - offset));
      for (int step = 0; step < 2 * (worldSize - 1); step++) {
        int chunk = sendChunk(step);
        int from = bucket.start(chunk);
        int count = bucket.start(chunk + 1) - from;
        for (int done = 0; done < count; done += SLICE_FLOATS) {
          int n = Math.min(SLICE_FLOATS, count - done);
          Slice slice = step == 0 ? IN_BUFFER : nextForwardSlice();
          if (slice == IN_BUFFER) {
            ownSlice.floats.put(0, data, from + done, n);
            links.sending().transferAll(ownSlice.sized(n), describe(bucket, step));
          } else {
            links.sending().transferAll(slice.bytes.flip(), describe(bucket, step));
            freeSlices.add(slice);
          }
        }
      }
    }
  }

  /** The next slice the receiver passed on, in the order it received them. */
  private Slice nextForwardSlice() {
    try {
      while (true) {
        Slice slice = forwardSlices.poll(10, TimeUnit.MILLISECONDS);
        if (slice != null) {
          return slice;
        }
        if (firstFailure.get() != null) {
          throw new CollectiveException("rank " + rank + ": stopped sending, the receiver failed");
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CollectiveException("rank " + rank + ": interrupted while sending", e);
    }
  }

  /**
   * Receives every step's chunk slice by slice, adding (reduce-scatter) or copying (all-gather) it into
   * {@code data} and passing it on to the sender for the next step: in the slice's own buffer when one is
   * free (added sums are written back to it), else as {@link #IN_BUFFER}, so the receiver never waits on
   * the sender.
   */
  private void receiveAll(float[] data, int bucketFloats) {
    int lastStep = 2 * (worldSize - 1) - 1;
    for (int offset = 0; offset < data.length; offset += bucketFloats) {
      Bucket bucket = new Bucket(offset, Math.min(bucketFloats, data.length - offset));
      for (int step = 0; step <= lastStep; step++) {
        int chunk = receiveChunk(step);
        int from = bucket.start(chunk);
        int count = bucket.start(chunk + 1) - from;
        boolean add = step < worldSize - 1;
        boolean forward = step < lastStep;
        for (int done = 0; done < count; done += SLICE_FLOATS) {
          int n = Math.min(SLICE_FLOATS, count - done);
          Slice pooled = forward ? freeSlices.poll() : null;
          Slice slice = pooled == null ? fallbackSlice : pooled;
          links.receiving().transferAll(slice.sized(n), describe(bucket, step));
          if (add) {
            addInto(data, from + done, n, slice.floats, pooled != null);
          } else {
            slice.floats.get(0, data, from + done, n);
          }
          if (forward) {
            forwardSlices.add(pooled == null ? IN_BUFFER : pooled);
          }
        }
      }
    }
  }

  private static void addInto(float[] data, int from, int n, FloatBuffer received, boolean writeBack) {
    if (writeBack) {
      for (int i = 0; i < n; i++) {
        float sum = data[from + i] + received.get(i);
        data[from + i] = sum;
        received.put(i, sum);
      }
    } else {
      for (int i = 0; i < n; i++) {
        data[from + i] += received.get(i);
      }
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
