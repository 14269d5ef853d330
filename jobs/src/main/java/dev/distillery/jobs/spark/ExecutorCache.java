package dev.distillery.jobs.spark;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.network.util.JavaUtils;
import org.apache.spark.util.TaskCompletionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Objects loaded once per executor JVM and shared by every task that runs there (tokenizers, models): what the DJL
 * Spark extension would do, which is not available here. Keys must name everything that makes two entries different
 * (file path and content hash, device, dtype).
 *
 * <p>Models are bounded by bytes per device. An entry is held while a task that asked for it runs, and belongs to the
 * Spark stage that last asked for it. When a task of another stage first asks for anything, and before a model is
 * loaded, entries that no running task holds are removed and closed, earlier stages' first and least recently used
 * first, until the device's resident bytes fit its capacity: Spark conf {@value #CAPACITY_CONF} (bytes per device,
 * e.g. {@code 20g}; default a quarter of the device's memory, or of the host's for the CPU). So a stage's models are
 * released once a later stage runs on the executor, unless they fit the capacity and may serve it again (the teacher
 * from calibrate to distill); a held entry is never closed under its task. Small entries (tokenizers) count 0 bytes
 * and are kept.
 */
public final class ExecutorCache {
  /** Spark conf key: bytes of models kept resident per device of an executor. */
  public static final String CAPACITY_CONF = "spark.distillery.executorCacheBytes";
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorCache.class);
  private static final ExecutorCache SHARED = new ExecutorCache(ExecutorCache::defaultCapacity);
  private static final int NO_STAGE = -1;

  private final Map<String, Entry> entries = new HashMap<>();
  private final Map<Device, Long> capacities = new ConcurrentHashMap<>();
  private final ToLongFunction<Device> capacity;
  private long clock;
  private int stage = NO_STAGE;

  /** A cache whose capacity on a device is {@code capacity.applyAsLong(device)} bytes. */
  ExecutorCache(ToLongFunction<Device> capacity) {
    this.capacity = capacity;
  }

  private static final class Entry {
    final String key;
    final Device device;
    final long bytes;
    final CompletableFuture<Object> value = new CompletableFuture<>();
    int holders;
    int stage;
    long lastUse;

    Entry(String key, Device device, long bytes) {
      this.key = key;
      this.device = device;
      this.bytes = bytes;
    }
  }

  /** A value held until {@link #release()}: it is not closed before. */
  interface Lease<T> {
    T value();

    void release();
  }

  /** A small entry (counted as 0 bytes, never closed), created by {@code loader} the first time a task here asks. */
  public static <T> T get(String key, Supplier<T> loader) {
    return SHARED.getForTask(key, null, () -> 0, loader);
  }

  /**
   * The entry for {@code key}, created by {@code loader} the first time a task here asks, held until the calling task
   * ends (outside a task, not held: it stays until evicted).
   *
   * @param device where the entry's memory lives
   * @param bytes the memory the entry will hold, asked before it is loaded to make room for it
   */
  public static <T extends AutoCloseable> T get(String key, Device device, LongSupplier bytes, Supplier<T> loader) {
    return SHARED.getForTask(key, device, bytes, loader);
  }

  private <T> T getForTask(String key, Device device, LongSupplier bytes, Supplier<T> loader) {
    TaskContext task = TaskContext.get();
    Lease<T> lease = acquire(key, device, bytes, loader, task == null ? NO_STAGE : task.stageId());
    if (task == null) {
      lease.release();
    } else {
      task.addTaskCompletionListener((TaskCompletionListener) context -> lease.release());
    }
    return lease.value();
  }

  /** The entry for {@code key} for a task of {@code taskStage}, loading it first if absent. */
  @SuppressWarnings("unchecked")
  <T> Lease<T> acquire(String key, Device device, LongSupplier bytes, Supplier<T> loader, int taskStage) {
    Entry entry;
    boolean load;
    synchronized (this) {
      if (taskStage != stage) {
        stage = taskStage;
        for (Device d : devices()) {
          fit(d, 0);
        }
      }
      entry = entries.get(key);
      load = entry == null;
      if (load) {
        long size = device == null ? 0 : bytes.getAsLong();
        if (device != null) {
          fit(device, size);
        }
        entry = new Entry(key, device, size);
        entries.put(key, entry);
      }
      entry.holders++;
      entry.stage = taskStage;
      entry.lastUse = ++clock;
    }
    Entry held = entry;
    Lease<T> lease = new Lease<>() {
      private boolean released;

      @Override
      public T value() {
        return (T) held.value.join();
      }

      @Override
      public void release() {
        synchronized (ExecutorCache.this) {
          if (!released) {
            released = true;
            held.holders--;
          }
        }
      }
    };
    if (load) {
      try {
        entry.value.complete(loader.get());
      } catch (RuntimeException | Error e) {
        synchronized (this) {
          entries.remove(key, entry);
        }
        entry.value.completeExceptionally(e);
        lease.release();
        throw e;
      }
    }
    try {
      entry.value.join();
    } catch (CompletionException e) {
      lease.release();
      throw e.getCause() instanceof RuntimeException r ? r : e;
    }
    return lease;
  }

  /** Bytes of the entries on {@code device}, held or not. */
  synchronized long residentBytes(Device device) {
    return entries.values().stream().filter(e -> device.equals(e.device)).mapToLong(e -> e.bytes).sum();
  }

  private List<Device> devices() {
    return entries.values().stream().map(e -> e.device).filter(d -> d != null).distinct().toList();
  }

  /** Closes idle entries on {@code device}, earlier stages' and least recently used first, until {@code incoming} fits. */
  private void fit(Device device, long incoming) {
    long limit = capacities.computeIfAbsent(device, capacity::applyAsLong);
    long resident = residentBytes(device);
    List<Entry> idle = new ArrayList<>(entries.values().stream()
        .filter(e -> device.equals(e.device) && e.holders == 0 && e.bytes > 0)
        .sorted(Comparator.<Entry>comparingInt(e -> e.stage == stage ? 1 : 0).thenComparingLong(e -> e.lastUse))
        .toList());
    for (Entry e : idle) {
      if (resident + incoming <= limit) {
        return;
      }
      entries.remove(e.key);
      resident -= e.bytes;
      close(e);
    }
    if (resident + incoming > limit && incoming > 0) {
      LOG.warn("{} MiB of models on {} are held by running tasks; loading {} MiB more exceeds the {} MiB of {}",
          resident >> 20, device, incoming >> 20, limit >> 20, CAPACITY_CONF);
    }
  }

  private static void close(Entry e) {
    LOG.info("Releasing {} ({} MiB on {})", e.key, e.bytes >> 20, e.device);
    if (e.value.getNow(null) instanceof AutoCloseable closeable) {
      try {
        closeable.close();
      } catch (Exception ex) {
        LOG.warn("Closing {} failed", e.key, ex);
      }
    }
  }

  /** {@value #CAPACITY_CONF} when set, else a quarter of the device's memory (of the host's for the CPU). */
  private static long defaultCapacity(Device device) {
    SparkEnv env = SparkEnv.get();
    if (env != null && env.conf().contains(CAPACITY_CONF)) {
      return JavaUtils.byteStringAsBytes(env.conf().get(CAPACITY_CONF));
    }
    long memory = device.isGpu()
        ? CudaUtils.getGpuMemory(device).getMax()
        : ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
            .getTotalMemorySize();
    return memory / 4;
  }
}
