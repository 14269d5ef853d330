package dev.distillery.collective;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * All-reduce across ranks over a TCP ring: a reduce-scatter then an all-gather, 2(N-1) steps in which each
 * rank sends one N-th of a bucket to its right neighbour while receiving another from its left, so each
 * link carries 2(N-1)/N of the buffer whatever N is. Received data is added as it arrives; buffers larger
 * than the bucket size are reduced bucket by bucket.
 *
 * <p>Results are identical on every rank (the all-gather copies fully reduced chunks) and deterministic:
 * each chunk is summed in ring order starting at the rank of the same index. All ranks must make the same
 * calls with buffers of the same length, in the same order. Operations run one at a time, in call order,
 * on this ring's own thread, so {@link #allReduceSumAsync} overlaps the reduction with the caller's work.
 *
 * <p>A failure (a peer that dies, closes or stays silent beyond the operation timeout) throws a {@link
 * CollectiveException} and closes this rank's connections, so its neighbours fail at once too; the ring
 * cannot be used after that.
 */
public final class RingAllReduce implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RingAllReduce.class);
  private static final int SCRATCH_FLOATS = 16 << 10;

  private final int rank;
  private final int worldSize;
  private final RingLinks links;
  private final int bucketFloats;
  private final ByteBuffer sendBytes;
  private final ByteBuffer receiveBytes;
  private final FloatBuffer sendFloats;
  private final FloatBuffer receiveFloats;
  private final float[] scratch;
  private final ExecutorService worker;
  private volatile CollectiveException failure;

  private RingAllReduce(int rank, int worldSize, RingLinks links, int bucketBytes) {
    this.rank = rank;
    this.worldSize = worldSize;
    this.links = links;
    this.bucketFloats = bucketBytes / Float.BYTES;
    int chunkBytes = worldSize == 1 ? 0 : ceilDiv(bucketFloats, worldSize) * Float.BYTES;
    this.sendBytes = ByteBuffer.allocateDirect(Math.max(chunkBytes, Long.BYTES)).order(ByteOrder.LITTLE_ENDIAN);
    this.receiveBytes = ByteBuffer.allocateDirect(Math.max(chunkBytes, Long.BYTES)).order(ByteOrder.LITTLE_ENDIAN);
    this.sendFloats = sendBytes.asFloatBuffer();
    this.receiveFloats = receiveBytes.asFloatBuffer();
    this.scratch = new float[worldSize == 1 ? 0 : SCRATCH_FLOATS];
    this.worker = Executors.newSingleThreadExecutor(task -> {
      Thread t = new Thread(task, "ring-all-reduce-rank-" + rank);
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Forms the ring: every rank of the world must call this with the same world size and options (bar the
   * addresses). Blocks until connected to both neighbours or the connect timeout passes. A world of one
   * rank makes no connection and every operation is a no-op.
   *
   * @throws CollectiveException if the ring cannot be formed in time or a handshake fails
   */
  public static RingAllReduce connect(int rank, int worldSize, Rendezvous rendezvous, CollectiveOptions options) {
    if (worldSize < 1 || rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException("rank " + rank + " outside world of " + worldSize);
    }
    RingLinks links = worldSize == 1 ? null : RingConnector.connect(rank, worldSize, rendezvous, options);
    return new RingAllReduce(rank, worldSize, links, options.bucketBytes());
  }

  public int rank() {
    return rank;
  }

  public int worldSize() {
    return worldSize;
  }

  /** Replaces {@code data} on every rank with the elementwise sum over all ranks. */
  public void allReduceSum(float[] data) {
    await(allReduceSumAsync(data));
  }

  /** Replaces {@code data} on every rank with the elementwise mean over all ranks. */
  public void allReduceMean(float[] data) {
    allReduceSum(data);
    if (worldSize > 1) {
      for (int i = 0; i < data.length; i++) {
        data[i] /= worldSize;
      }
    }
  }

  /**
   * Starts {@link #allReduceSum} on the ring's thread; {@code data} must not be touched until the future
   * completes (exceptionally with a {@link CollectiveException} on failure).
   */
  public CompletableFuture<Void> allReduceSumAsync(float[] data) {
    return submit(() -> {
      for (int start = 0; start < data.length; start += bucketFloats) {
        reduceBucket(data, start, Math.min(bucketFloats, data.length - start));
      }
      return null;
    });
  }

  /** Every rank's {@code value}, index = rank. */
  public long[] allGather(long value) {
    return await(submit(() -> gather(value)));
  }

  /** The sum of {@code value} over all ranks. */
  public long allReduceSum(long value) {
    return Arrays.stream(allGather(value)).sum();
  }

  /** The sum of {@code value} over all ranks, added in rank order, so identical on every rank. */
  public double allReduceSum(double value) {
    double sum = 0;
    for (long bits : allGather(Double.doubleToRawLongBits(value))) {
      sum += Double.longBitsToDouble(bits);
    }
    return sum;
  }

  /** Returns once every rank has called it. */
  public void barrier() {
    allGather(0);
  }

  /**
   * Fails on every rank, naming each rank's value, if ranks disagree on {@code value} (e.g. a hash of the
   * weights, a step number or a buffer length). The ring stays usable.
   */
  public void checkSame(long value, String what) {
    long[] values = allGather(value);
    if (Arrays.stream(values).anyMatch(v -> v != values[0])) {
      StringBuilder perRank = new StringBuilder();
      for (int r = 0; r < values.length; r++) {
        perRank.append(r == 0 ? "" : ", ").append("rank ").append(r).append('=').append(values[r]);
      }
      throw new CollectiveException("rank " + rank + ": " + what + " differs across ranks: " + perRank);
    }
  }

  /** Closes the connections; an operation in progress on this or another rank fails. */
  @Override
  public void close() {
    worker.shutdown();
    if (links != null) {
      links.close();
    }
  }

  private <T> CompletableFuture<T> submit(Supplier<T> operation) {
    try {
      return CompletableFuture.supplyAsync(() -> run(operation), worker);
    } catch (RejectedExecutionException e) {
      return CompletableFuture.failedFuture(new CollectiveException("rank " + rank + ": the ring is closed"));
    }
  }

  private <T> T run(Supplier<T> operation) {
    if (failure != null) {
      throw new CollectiveException("rank " + rank + ": the ring failed earlier: " + failure.getMessage(),
          failure);
    }
    try {
      return operation.get();
    } catch (RuntimeException e) {
      CollectiveException f = e instanceof CollectiveException c ? c
          : new CollectiveException("rank " + rank + ": collective operation failed: " + e, e);
      failure = f;
      LOG.error(f.getMessage());
      links.close();
      throw f;
    }
  }

  private static <T> T await(CompletableFuture<T> future) {
    try {
      return future.join();
    } catch (CompletionException e) {
      throw e.getCause() instanceof CollectiveException c ? c : e;
    }
  }

  private long[] gather(long value) {
    long[] values = new long[worldSize];
    values[rank] = value;
    for (int step = 0; step < worldSize - 1; step++) {
      int sendRank = Math.floorMod(rank - step, worldSize);
      int receiveRank = Math.floorMod(rank - step - 1, worldSize);
      sendBytes.clear().putLong(values[sendRank]).flip();
      receiveBytes.clear().limit(Long.BYTES);
      int s = step;
      links.exchange(sendBytes, receiveBytes, bytes -> {}, () -> "all-gather of a long, step " + (s + 1));
      values[receiveRank] = receiveBytes.getLong(0);
    }
    return values;
  }

  private void reduceBucket(float[] data, int offset, int length) {
    for (int step = 0; step < worldSize - 1; step++) {
      exchangeChunks(data, offset, length, chunk(rank - step), chunk(rank - step - 1), true, step);
    }
    for (int step = 0; step < worldSize - 1; step++) {
      exchangeChunks(data, offset, length, chunk(rank + 1 - step), chunk(rank - step), false,
          worldSize - 1 + step);
    }
  }

  /** Sends chunk {@code sendChunk} of the bucket and adds (or copies) the received one into its place. */
  private void exchangeChunks(float[] data, int offset, int length, int sendChunk, int receiveChunk,
      boolean add, int step) {
    int sendFrom = offset + chunkStart(length, sendChunk);
    int sendCount = offset + chunkStart(length, sendChunk + 1) - sendFrom;
    int receiveFrom = offset + chunkStart(length, receiveChunk);
    int receiveCount = offset + chunkStart(length, receiveChunk + 1) - receiveFrom;
    sendFloats.put(0, data, sendFrom, sendCount);
    sendBytes.clear().limit(sendCount * Float.BYTES);
    receiveBytes.clear().limit(receiveCount * Float.BYTES);
    int[] consumed = {0};
    links.exchange(sendBytes, receiveBytes, bytes -> {
      int available = bytes / Float.BYTES;
      if (add) {
        addReceived(data, receiveFrom, consumed[0], available);
      } else {
        receiveFloats.get(consumed[0], data, receiveFrom + consumed[0], available - consumed[0]);
      }
      consumed[0] = available;
    }, () -> String.format("all-reduce (bucket of %d floats), %s step %d of %d", length,
        add ? "reduce-scatter" : "all-gather", step + 1, 2 * (worldSize - 1)));
  }

  private void addReceived(float[] data, int chunkFrom, int from, int to) {
    for (int i = from; i < to; i += scratch.length) {
      int n = Math.min(scratch.length, to - i);
      receiveFloats.get(i, scratch, 0, n);
      int base = chunkFrom + i;
      for (int j = 0; j < n; j++) {
        data[base + j] += scratch[j];
      }
    }
  }

  private int chunk(int index) {
    return Math.floorMod(index, worldSize);
  }

  /** Start of chunk {@code chunk} (0 to N, N meaning the end) of a bucket of {@code length} floats. */
  private int chunkStart(int length, int chunk) {
    return (int) ((long) length * chunk / worldSize);
  }

  private static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }
}
