package dev.distillery.collective;

import java.time.Duration;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * All-reduce among the devices (one thread each) of one process, in front of a global reduction: the
 * devices' buffers are summed into device 0's (each device adds up one slice of the buffer, in device
 * order, so the result is deterministic), device 0 runs the global reduction (e.g. {@link
 * RingAllReduce#allReduceSum(DirectFloats)}) on that sum, and the result is copied back to every device. Each
 * device thread calls {@link #allReduceSum} with its own buffer; the call returns when all have the
 * result. Loss sums and other scalars take the same way in double precision.
 *
 * <p>Built with a global {@link ShardedSum}, it also reduce-scatters and all-gathers: each device owns one part of
 * its process's global shard (see {@link #shard}).
 */
public final class LocalReducer {
  private final int devices;
  private final Consumer<DirectFloats> globalSum;
  private final Consumer<double[]> globalScalarSum;
  private final ShardedSum globalShards;
  private final Duration timeout;
  private final CyclicBarrier barrier;
  private final DirectFloats[] buffers;
  private final double[][] scalars;
  private volatile RuntimeException globalFailure;

  /**
   * @param globalSum sums device 0's buffer across processes in place; {@code data -> {}} for one process
   * @param globalScalarSum the same for scalars
   * @param timeout how long a device waits for the others at each phase
   */
  public LocalReducer(int devices, Consumer<DirectFloats> globalSum, Consumer<double[]> globalScalarSum,
      Duration timeout) {
    this(devices, globalSum, globalScalarSum, null, timeout);
  }

  /**
   * As {@link #LocalReducer(int, Consumer, Consumer, Duration)}, with {@code globalShards} (whose shards device 0's
   * process owns) for {@link #reduceScatterSum} and {@link #allGather}.
   */
  public LocalReducer(int devices, Consumer<DirectFloats> globalSum, Consumer<double[]> globalScalarSum,
      ShardedSum globalShards, Duration timeout) {
    if (devices < 1) {
      throw new IllegalArgumentException("need at least one device, got " + devices);
    }
    this.devices = devices;
    this.globalSum = globalSum;
    this.globalScalarSum = globalScalarSum;
    this.globalShards = globalShards;
    this.timeout = timeout;
    this.barrier = new CyclicBarrier(devices);
    this.buffers = new DirectFloats[devices];
    this.scalars = new double[devices][];
  }

  /** Replaces {@code values} with their sum over all devices (in device order) and processes. */
  public void allReduceSum(int device, double[] values) {
    checkDevice(device);
    scalars[device] = values;
    await(device, "to share scalars");
    if (device == 0) {
      runGlobalSum(() -> {
        for (int d = 1; d < devices; d++) {
          if (scalars[d].length != values.length) {
            throw new CollectiveException("device 0: scalar counts differ across devices");
          }
          for (int i = 0; i < values.length; i++) {
            values[i] += scalars[d][i];
          }
        }
        globalScalarSum.accept(values);
      });
    }
    await(device, "for the scalar sum");
    if (device != 0) {
      System.arraycopy(scalars[0], 0, values, 0, values.length);
    }
    await(device, "to copy the scalars");
  }

  /** Replaces {@code data} with the sum over all devices (and processes); called by device {@code device}. */
  public void allReduceSum(int device, DirectFloats data) {
    checkDevice(device);
    shareAndSum(device, data);
    if (device == 0) {
      runGlobalSum(() -> globalSum.accept(data));
    }
    await(device, "for the global reduction");
    if (device != 0) {
      data.bytes(0, data.length()).put(buffers[0].bytes(0, data.length()));
    }
    await(device, "to copy the result");
  }

  /** Device {@code device}'s part of a buffer of {@code length}: its share of the process's global shard. */
  public Shard shard(int device, int length) {
    checkDevice(device);
    if (globalShards == null) {
      throw new IllegalStateException("this local reducer was built without a sharded global sum");
    }
    return globalShards.shard(length).part(device, devices);
  }

  /**
   * Afterwards {@link #shard}{@code (device, data.length())} of {@code data} holds the sum over all devices (in
   * device order) and processes: the devices are summed into device 0's buffer, which reduce-scatters across
   * processes, and each device copies its part from there.
   */
  public void reduceScatterSum(int device, DirectFloats data) {
    Shard mine = shard(device, data.length());
    shareAndSum(device, data);
    if (device == 0) {
      runGlobalSum(() -> globalShards.reduceScatterSum(data));
    }
    await(device, "for the global reduce-scatter");
    if (device != 0) {
      data.bytes(mine.from(), mine.length()).put(buffers[0].bytes(mine.from(), mine.length()));
    }
    await(device, "to copy the shards");
  }

  /**
   * Copies every device's {@link #shard} of {@code data}, in every process, into everyone's {@code data}: each
   * device puts its part into device 0's buffer, which all-gathers across processes, and is copied back.
   */
  public void allGather(int device, DirectFloats data) {
    Shard mine = shard(device, data.length());
    share(device, data);
    if (device != 0) {
      buffers[0].bytes(mine.from(), mine.length()).put(data.bytes(mine.from(), mine.length()));
    }
    await(device, "to gather the shards");
    if (device == 0) {
      runGlobalSum(() -> globalShards.allGather(data));
    }
    await(device, "for the global all-gather");
    if (device != 0) {
      data.bytes(0, data.length()).put(buffers[0].bytes(0, data.length()));
    }
    await(device, "to copy the result");
  }

  private void sumSlice(int device) {
    int from = (int) ((long) buffers[0].length() * device / devices);
    int to = (int) ((long) buffers[0].length() * (device + 1) / devices);
    for (int d = 1; d < devices; d++) {
      DirectFloats.addInto(buffers[0].floats(), from, buffers[d].floats(), from, to - from);
    }
  }

  /** Shares the devices' buffers, then sums them into device 0's, each device one slice. */
  private void shareAndSum(int device, DirectFloats data) {
    share(device, data);
    sumSlice(device);
    await(device, "to sum slices");
  }

  private void share(int device, DirectFloats data) {
    buffers[device] = data;
    await(device, "to share buffers");
    for (DirectFloats b : buffers) {
      if (b.length() != data.length()) {
        throw new CollectiveException("device " + device + ": buffer lengths differ across devices: "
            + lengths());
      }
    }
  }

  private void checkDevice(int device) {
    if (device < 0 || device >= devices) {
      throw new IllegalArgumentException("device " + device + " outside 0.." + (devices - 1));
    }
  }

  /** Runs device 0's part; its failure breaks the barrier, so that the other devices fail at once too. */
  private void runGlobalSum(Runnable sum) {
    try {
      sum.run();
    } catch (RuntimeException e) {
      globalFailure = e;
      barrier.reset();
      throw e;
    }
  }

  private void await(int device, String what) {
    try {
      barrier.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (BrokenBarrierException e) {
      RuntimeException cause = globalFailure;
      throw new CollectiveException("device " + device + ": local reduction broken while waiting " + what
          + (cause == null ? "" : ": the global reduction failed: " + cause.getMessage()), cause);
    } catch (TimeoutException e) {
      throw new CollectiveException("device " + device + ": other devices did not arrive within "
          + timeout.toMillis() + " ms " + what, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CollectiveException("device " + device + ": interrupted waiting " + what, e);
    }
  }

  private String lengths() {
    StringBuilder s = new StringBuilder();
    for (int d = 0; d < devices; d++) {
      s.append(d == 0 ? "" : ", ").append("device ").append(d).append('=').append(buffers[d].length());
    }
    return s.toString();
  }
}
