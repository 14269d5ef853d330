package dev.distillery.spark;

import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Objects loaded once per executor JVM and shared by every task that runs there (tokenizers, models):
 * what the DJL Spark extension would do, which is not available here. Entries live until the JVM ends;
 * keys must name everything that makes two entries different (file path and content hash, device).
 */
public final class ExecutorCache {
  private static final ConcurrentHashMap<String, Object> ENTRIES = new ConcurrentHashMap<>();

  private ExecutorCache() {}

  /** The entry for {@code key}, created by {@code loader} the first time any task on this JVM asks. */
  @SuppressWarnings("unchecked")
  public static <T> T get(String key, Supplier<T> loader) {
    return (T) ENTRIES.computeIfAbsent(key, k -> loader.get());
  }
}
