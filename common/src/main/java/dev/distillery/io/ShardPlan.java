package dev.distillery.io;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which shard file each tensor of a checkpoint goes to, fixed before anything is written so that file
 * names ({@code model-00001-of-00003.safetensors}) are final. Tensors fill shards in order; a shard is
 * closed when the next tensor would take it past the maximum, and a tensor larger than the maximum gets a
 * shard of its own. One shard is named {@code model.safetensors}.
 */
final class ShardPlan {
  static final String SINGLE_FILE = "model.safetensors";

  private final List<List<TensorInfo>> shards;
  private final List<String> fileNames;
  private final Map<String, Integer> shardOfTensor = new LinkedHashMap<>();
  private final long totalBytes;

  private ShardPlan(List<List<TensorInfo>> shards) {
    this.shards = shards;
    List<String> names = new ArrayList<>();
    long total = 0;
    for (int i = 0; i < shards.size(); i++) {
      names.add(shards.size() == 1 ? SINGLE_FILE
          : String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size()));
      for (TensorInfo t : shards.get(i)) {
        shardOfTensor.put(t.name(), i);
        total += t.byteLength();
      }
    }
    this.fileNames = Collections.unmodifiableList(names);
    this.totalBytes = total;
  }

  /** Plans shards of at most {@code maxShardBytes} of tensor data for tensors stored as {@code dtype}. */
  static ShardPlan of(Map<String, long[]> shapes, DType dtype, long maxShardBytes) {
    if (maxShardBytes <= 0) {
      throw new IllegalArgumentException("max shard size must be > 0, got " + maxShardBytes);
    }
    List<List<TensorInfo>> shards = new ArrayList<>();
    List<TensorInfo> shard = new ArrayList<>();
    long shardBytes = 0;
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      long bytes = TensorInfo.elementCount(e.getValue()) * dtype.byteSize();
      if (!shard.isEmpty() && shardBytes + bytes > maxShardBytes) {
        shards.add(shard);
        shard = new ArrayList<>();
        shardBytes = 0;
      }
      shard.add(new TensorInfo(e.getKey(), dtype, e.getValue(), 0, bytes, null));
      shardBytes += bytes;
    }
    shards.add(shard);
    return new ShardPlan(shards);
  }

  int shardCount() {
    return shards.size();
  }

  String fileName(int shard) {
    return fileNames.get(shard);
  }

  List<String> fileNames() {
    return fileNames;
  }

  List<TensorInfo> tensors(int shard) {
    return Collections.unmodifiableList(shards.get(shard));
  }

  /** All tensor names, in write order. */
  Set<String> tensorNames() {
    return Collections.unmodifiableSet(shardOfTensor.keySet());
  }

  /** Index of the shard holding {@code name}, or -1. */
  int shardOf(String name) {
    return shardOfTensor.getOrDefault(name, -1);
  }

  /** Bytes of tensor data in all shards (the index's {@code total_size}). */
  long totalBytes() {
    return totalBytes;
  }
}
