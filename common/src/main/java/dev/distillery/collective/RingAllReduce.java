package dev.distillery.collective;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * All-reduce across ranks over a TCP ring: a reduce-scatter then an all-gather, 2(N-1) steps in which each
 * rank sends one N-th of a bucket to its right neighbour while receiving another from its left, so each
 * link carries 2(N-1)/N of the buffer whatever N is. Steps are pipelined in slices (see {@link
 * RingReducePipeline}): sending, receiving and adding overlap; buffers larger than the bucket size are
 * reduced bucket by bucket.
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
public final class RingAllReduce implements AutoCloseable, ShardedSum {
  private static final Logger LOG = LoggerFactory.getLogger(RingAllReduce.class);

  private final int rank;
  private final int worldSize;
  private final RingLinks links;
  private final RingReducePipeline pipeline;
  private final int bucketFloats;
  private final ByteBuffer sendLong = ByteBuffer.allocateDirect(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
  private final ByteBuffer receiveLong = ByteBuffer.allocateDirect(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
  private final ExecutorService worker;
  private volatile CollectiveException failure;

  private RingAllReduce(int rank, int worldSize, RingLinks links, int bucketBytes) {
    this.rank = rank;
    this.worldSize = worldSize;
    this.links = links;
    this.pipeline = links == null ? null : new RingReducePipeline(rank, worldSize, links,
        RingReducePipeline.DEFAULT_FORWARD_SLICES);
    this.bucketFloats = bucketBytes / Float.BYTES;
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
  public void allReduceSum(DirectFloats data) {
    await(allReduceSumAsync(data));
  }

  /**
   * Starts {@link #allReduceSum} on the ring's thread; {@code data} must not be touched until the future
   * completes (exceptionally with a {@link CollectiveException} on failure).
   */
  public CompletableFuture<Void> allReduceSumAsync(DirectFloats data) {
    return onPipeline(p -> p.allReduceSum(data, bucketFloats));
  }

  /** Runs {@code operation} on the ring's thread; a world of one has no pipeline and nothing to do. */
  private CompletableFuture<Void> onPipeline(Consumer<RingReducePipeline> operation) {
    return submit(() -> {
      if (pipeline != null) {
        operation.accept(pipeline);
      }
      return null;
    });
  }

  /**
   * The floats of a buffer of {@code length} that this rank owns in {@link #reduceScatterSum} and {@link
   * #allGather}: one N-th, a different one on every rank (all of it in a world of one).
   */
  @Override
  public Shard shard(int length) {
    return pipeline == null ? new Shard(0, length) : Shard.part(length, pipeline.ownedChunk(), worldSize);
  }

  /**
   * The first half of {@link #allReduceSum(DirectFloats)}: afterwards this rank's {@link #shard} of {@code data}
   * holds the sum over all ranks, deterministic and identical on every rank; the rest of {@code data} holds
   * partial sums. The whole buffer is one bucket, so each link carries (N-1)/N of it.
   */
  @Override
  public void reduceScatterSum(DirectFloats data) {
    await(onPipeline(p -> p.reduceScatterSum(data)));
  }

  /** The second half: every rank's {@link #shard} of {@code data} is copied into the same floats on every rank. */
  @Override
  public void allGather(DirectFloats data) {
    await(onPipeline(p -> p.allGather(data)));
  }

  /** Every rank's {@code value}, index = rank. */
  public long[] allGather(long value) {
    return await(submit(() -> gather(value, -1)));
  }

  /**
   * {@link #allGather(long)} that waits up to {@code timeout} without progress instead of the operation timeout:
   * for ranks that wait on a peer's long, known work (e.g. writing a checkpoint), not on a dead peer.
   */
  public long[] allGather(long value, Duration timeout) {
    return await(submit(() -> gather(value, timeout.toNanos())));
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

  /** {@link #barrier()} waiting up to {@code timeout} for the slowest rank; see {@link #allGather(long, Duration)}. */
  public void barrier(Duration timeout) {
    allGather(0, timeout);
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
      pipeline.close();
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

  /** @param timeoutNanos how long to wait without progress; negative for the operation timeout */
  private long[] gather(long value, long timeoutNanos) {
    long[] values = new long[worldSize];
    values[rank] = value;
    for (int step = 0; step < worldSize - 1; step++) {
      int sendRank = Math.floorMod(rank - step, worldSize);
      int receiveRank = Math.floorMod(rank - step - 1, worldSize);
      sendLong.clear().putLong(values[sendRank]).flip();
      receiveLong.clear();
      int s = step;
      if (timeoutNanos < 0) {
        links.exchangeSmall(sendLong, receiveLong, () -> "all-gather of a long, step " + (s + 1));
      } else {
        links.exchangeSmall(sendLong, receiveLong, () -> "all-gather of a long, step " + (s + 1), timeoutNanos);
      }
      values[receiveRank] = receiveLong.getLong(0);
    }
    return values;
  }
}
