package dev.distillery.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import java.io.Closeable;
import java.nio.ByteBuffer;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a Hugging Face Llama checkpoint into a {@link StagedDirectory}: {@code config.json}, the tensors
 * {@link LlamaTensors#expectedShapes} lists (in that order) as safetensors shards of at most a given size,
 * {@code model.safetensors.index.json} when there is more than one shard, and optional extra files.
 * Tensors stream in one at a time; memory is bounded by what the caller passes in. Nothing appears at the
 * target until {@link #commit()}; {@link #close()} without commit discards everything.
 */
public final class CheckpointWriter implements Closeable {
  /** Hugging Face's default maximum shard size, 5 GB. */
  public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;
  private static final Logger LOG = LoggerFactory.getLogger(CheckpointWriter.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Storage storage;
  private final StagedDirectory staged;
  private final String directory;
  private final ShardPlan plan;
  private final DType dtype;
  private final int part;
  private final int parts;
  private int currentShard = -1;
  private SafetensorsWriter shardWriter;

  private CheckpointWriter(Storage storage, StagedDirectory staged, String directory, LlamaConfig config,
      DType dtype, long maxShardBytes, int part, int parts) {
    if (part < 0 || part >= parts) {
      throw new IllegalArgumentException("part " + part + " outside 0.." + (parts - 1));
    }
    this.storage = storage;
    this.staged = staged;
    this.directory = directory;
    this.dtype = dtype;
    this.part = part;
    this.parts = parts;
    this.plan = ShardPlan.of(LlamaTensors.expectedShapes(config), dtype, maxShardBytes);
    if (part == 0) {
      storage.writeText(file(CheckpointReader.CONFIG_FILE), config.withTorchDtype(dtype.torchDtype()).toJson());
    }
  }

  /**
   * Starts a checkpoint at {@code directory} whose weights are stored as {@code dtype} (F32, F16 or BF16).
   *
   * @param overwrite whether an existing committed checkpoint there may be replaced
   */
  public static CheckpointWriter create(Storage storage, String directory, LlamaConfig config, DType dtype,
      long maxShardBytes, boolean overwrite) {
    checkDtype(dtype);
    StagedDirectory staged = storage.stage(directory, overwrite);
    try {
      return new CheckpointWriter(storage, staged, staged.path(), config, dtype, maxShardBytes, 0, 1);
    } catch (RuntimeException e) {
      staged.abort();
      throw e;
    }
  }

  /** {@link #create(Storage, String, LlamaConfig, DType, long, boolean)} with 5 GB shards, no overwrite. */
  public static CheckpointWriter create(Storage storage, String directory, LlamaConfig config, DType dtype) {
    return create(storage, directory, config, dtype, DEFAULT_MAX_SHARD_BYTES, false);
  }

  /**
   * Writes part {@code part} of {@code parts} of a checkpoint straight into {@code directory}, a folder inside a
   * staging directory that the caller commits (nothing is staged or moved here): the shard files whose index is
   * {@code part} modulo {@code parts} and, for part 0, {@code config.json} and the index. Writers of every part,
   * in any process, with the same config, dtype and shard size, together write the whole checkpoint.
   */
  public static CheckpointWriter part(Storage storage, String directory, LlamaConfig config, DType dtype,
      long maxShardBytes, int part, int parts) {
    checkDtype(dtype);
    return new CheckpointWriter(storage, null, directory, config, dtype, maxShardBytes, part, parts);
  }

  private static void checkDtype(DType dtype) {
    if (!dtype.isFloatConvertible()) {
      throw new IllegalArgumentException("Checkpoint dtype must be F32, F16 or BF16, got " + dtype);
    }
  }

  private String file(String name) {
    return Storage.resolve(directory, name);
  }

  private String target() {
    return staged != null ? staged.finalPath() : directory;
  }

  /** The tensors to write (this part's), in the order they must be written. */
  public Set<String> tensorNames() {
    Set<String> names = new LinkedHashSet<>();
    for (String name : plan.tensorNames()) {
      if (plan.shardOf(name) % parts == part) {
        names.add(name);
      }
    }
    return names;
  }

  /** Shard file names, final from the start. */
  public List<String> shardFileNames() {
    return plan.fileNames();
  }

  /** The dtype every tensor is stored as. */
  public DType dtype() {
    return dtype;
  }

  /** Writes a whole tensor; see {@link SafetensorsWriter#write}. */
  public void write(String name, float[] data) {
    writerFor(name).write(name, data);
  }

  /** Appends whole rows to a tensor; see {@link SafetensorsWriter#writeRows}. */
  public void writeRows(String name, float[] rows) {
    writerFor(name).writeRows(name, rows);
  }

  /** Appends raw bytes in the checkpoint dtype; see {@link SafetensorsWriter#writeRaw}. */
  public void writeRaw(String name, ByteBuffer data) {
    writerFor(name).writeRaw(name, data);
  }

  /** Copies an extra file (e.g. {@code tokenizer.json}) into the checkpoint under its own file name. */
  public void copyFile(Storage source, String sourcePath) {
    String name = new Path(sourcePath).getName();
    if (name.equals(CheckpointReader.CONFIG_FILE) || name.endsWith(".safetensors") || name.equals(CheckpointReader.INDEX_FILE)) {
      throw new IllegalArgumentException("Cannot copy " + sourcePath + ": the checkpoint writer owns " + name);
    }
    storage.copyFrom(source, sourcePath, file(name));
  }

  private SafetensorsWriter writerFor(String name) {
    int shard = plan.shardOf(name);
    if (shard < 0) {
      throw new IllegalArgumentException(target() + ": tensor '" + name + "' is not part of this "
          + "checkpoint's config");
    }
    if (shard % parts != part) {
      throw new IllegalArgumentException(target() + ": tensor '" + name + "' is in shard " + plan.fileName(shard)
          + ", which part " + shard % parts + " of " + parts + " writes, not part " + part);
    }
    if (shard < currentShard) {
      throw new IllegalStateException(target() + ": tensor '" + name + "' belongs to shard "
          + plan.fileName(shard) + ", which is already finished; write tensors in order");
    }
    while (currentShard < shard) {
      openNextShard();
    }
    return shardWriter;
  }

  /** The next shard this part writes after the current one. */
  private int nextShard() {
    return currentShard < 0 ? part : currentShard + parts;
  }

  private void openNextShard() {
    if (shardWriter != null) {
      shardWriter.close();
    }
    currentShard = nextShard();
    shardWriter = new SafetensorsWriter(storage, file(plan.fileName(currentShard)));
    for (TensorInfo t : plan.tensors(currentShard)) {
      shardWriter.declare(t.name(), t.dtype(), t.shape());
    }
    LOG.info("Writing {} ({} tensors)", shardWriter.file(), plan.tensors(currentShard).size());
  }

  /**
   * Finishes this part's last shard, writes the index (part 0) and moves the checkpoint into place (unless it is a
   * {@link #part}, which its caller's staging directory commits).
   *
   * @throws IllegalStateException naming tensors that were not fully written
   */
  public void commit() {
    while (nextShard() < plan.shardCount()) {
      openNextShard();
    }
    if (shardWriter != null) {
      shardWriter.close();
    }
    if (part == 0 && plan.shardCount() > 1) {
      storage.writeText(file(CheckpointReader.INDEX_FILE), indexJson());
    }
    if (staged != null) {
      staged.commit();
    }
  }

  private String indexJson() {
    ObjectNode root = JSON.createObjectNode();
    root.putObject("metadata").put("total_size", plan.totalBytes());
    ObjectNode weightMap = root.putObject("weight_map");
    for (int shard = 0; shard < plan.shardCount(); shard++) {
      for (TensorInfo t : plan.tensors(shard)) {
        weightMap.put(t.name(), plan.fileName(shard));
      }
    }
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("Cannot serialize " + CheckpointReader.INDEX_FILE, e);
    }
  }

  /** Discards the checkpoint unless committed (a part: its unfinished shard; the caller's staging the rest). */
  @Override
  public void close() {
    if (shardWriter != null) {
      shardWriter.abort();
    }
    if (staged != null) {
      staged.abort();
    }
  }
}
