package dev.distillery.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import java.io.Closeable;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Hugging Face Llama checkpoint directory: {@code config.json} plus {@code model.safetensors} or
 * {@code model.safetensors.index.json} and its shards. Opening reads only config and headers, and checks
 * that every tensor the config requires is present with its exact shape; tensors are read on demand.
 */
public final class CheckpointReader implements Closeable {
  public static final String CONFIG_FILE = "config.json";
  public static final String INDEX_FILE = "model.safetensors.index.json";
  private static final Logger LOG = LoggerFactory.getLogger(CheckpointReader.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String directory;
  private final LlamaConfig config;
  private final List<SafetensorsReader> shards;
  private final Map<String, SafetensorsReader> readerOfTensor;

  private CheckpointReader(String directory, LlamaConfig config, List<SafetensorsReader> shards,
      Map<String, SafetensorsReader> readerOfTensor) {
    this.directory = directory;
    this.config = config;
    this.shards = List.copyOf(shards);
    this.readerOfTensor = readerOfTensor;
  }

  /** Opens the checkpoint in {@code directory} on its own file system. */
  public static CheckpointReader open(String directory) {
    return open(Storage.of(directory), directory);
  }

  /**
   * Opens and validates the checkpoint in {@code directory}.
   *
   * @throws IllegalArgumentException naming the file and tensor when the checkpoint is incomplete or invalid
   */
  public static CheckpointReader open(Storage storage, String directory) {
    storage.requireCommitted(directory, "checkpoint");
    String configPath = Storage.resolve(directory, CONFIG_FILE);
    if (!storage.exists(configPath)) {
      throw new IllegalArgumentException(directory + ": no " + CONFIG_FILE + "; not a Hugging Face checkpoint");
    }
    LlamaConfig config = LlamaConfig.fromJson(storage.readText(configPath), configPath);
    List<SafetensorsReader> shards = new ArrayList<>();
    try {
      Map<String, SafetensorsReader> readerOfTensor = openShards(storage, directory, shards);
      checkAgainstConfig(config, readerOfTensor);
      LOG.info("Opened checkpoint {}: {} tensors in {} file(s)", directory, readerOfTensor.size(), shards.size());
      return new CheckpointReader(directory, config, shards, readerOfTensor);
    } catch (RuntimeException e) {
      shards.forEach(SafetensorsReader::close);
      throw e;
    }
  }

  private static Map<String, SafetensorsReader> openShards(Storage storage, String directory,
      List<SafetensorsReader> shards) {
    Map<String, SafetensorsReader> readerOfTensor = new LinkedHashMap<>();
    String indexPath = Storage.resolve(directory, INDEX_FILE);
    String singlePath = Storage.resolve(directory, ShardPlan.SINGLE_FILE);
    if (!storage.exists(indexPath)) {
      if (!storage.exists(singlePath)) {
        throw new IllegalArgumentException(directory + ": neither " + ShardPlan.SINGLE_FILE + " nor " + INDEX_FILE
            + " found");
      }
      SafetensorsReader reader = SafetensorsReader.open(storage, singlePath);
      shards.add(reader);
      reader.tensors().keySet().forEach(name -> readerOfTensor.put(name, reader));
      return readerOfTensor;
    }
    Map<String, SafetensorsReader> readerOfFile = new LinkedHashMap<>();
    for (Map.Entry<String, String> entry : weightMap(storage, indexPath).entrySet()) {
      String tensor = entry.getKey();
      String shardFile = entry.getValue();
      SafetensorsReader reader = readerOfFile.get(shardFile);
      if (reader == null) {
        String shardPath = Storage.resolve(directory, shardFile);
        if (!storage.exists(shardPath)) {
          throw new IllegalArgumentException(indexPath + ": shard '" + shardFile + "' (holding tensor '" + tensor
              + "') does not exist: " + shardPath);
        }
        reader = SafetensorsReader.open(storage, shardPath);
        shards.add(reader);
        readerOfFile.put(shardFile, reader);
      }
      if (!reader.tensors().containsKey(tensor)) {
        throw new IllegalArgumentException(indexPath + ": tensor '" + tensor + "' is mapped to " + reader.file()
            + ", which does not contain it");
      }
      readerOfTensor.put(tensor, reader);
    }
    return readerOfTensor;
  }

  private static Map<String, String> weightMap(Storage storage, String indexPath) {
    JsonNode weightMap;
    try {
      weightMap = JSON.readTree(storage.readText(indexPath)).path("weight_map");
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(indexPath + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (!weightMap.isObject()) {
      throw new IllegalArgumentException(indexPath + ": expected an object 'weight_map' of tensor name -> file");
    }
    Map<String, String> map = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual() || e.getValue().asText().contains("/")) {
        throw new IllegalArgumentException(indexPath + ": weight_map entry for tensor '" + e.getKey()
            + "' must be a file name in the checkpoint directory, got " + e.getValue());
      }
      map.put(e.getKey(), e.getValue().asText());
    }
    return map;
  }

  private static void checkAgainstConfig(LlamaConfig config, Map<String, SafetensorsReader> readerOfTensor) {
    Map<String, long[]> expected = LlamaTensors.expectedShapes(config);
    List<String> missing = new ArrayList<>();
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      SafetensorsReader reader = readerOfTensor.get(e.getKey());
      if (reader == null) {
        missing.add(e.getKey());
        continue;
      }
      TensorInfo actual = reader.info(e.getKey());
      if (!Arrays.equals(actual.shape(), e.getValue())) {
        throw new IllegalArgumentException(reader.file() + ": tensor '" + e.getKey() + "' has shape "
            + Arrays.toString(actual.shape()) + ", but config.json requires " + Arrays.toString(e.getValue()));
      }
      if (!actual.dtype().isFloatConvertible()) {
        throw new IllegalArgumentException(reader.file() + ": tensor '" + e.getKey() + "' has dtype "
            + actual.dtype() + "; model weights must be F32, F16 or BF16");
      }
    }
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException("Checkpoint lacks " + missing.size() + " tensor(s) that config.json requires: "
          + String.join(", ", missing.subList(0, Math.min(10, missing.size()))) + (missing.size() > 10 ? ", ..." : "")
          + " (files: " + String.join(", ", readerOfTensor.values().stream().map(SafetensorsReader::file)
              .distinct().toList()) + ")");
    }
  }

  /** The checkpoint directory. */
  public String directory() {
    return directory;
  }

  /** The model configuration from {@code config.json}. */
  public LlamaConfig config() {
    return config;
  }

  /** Paths of the safetensors files, in index order. */
  public List<String> shardFiles() {
    return shards.stream().map(SafetensorsReader::file).toList();
  }

  /** Names of all tensors in the checkpoint, in index (or header) order. */
  public Set<String> tensorNames() {
    return Collections.unmodifiableSet(readerOfTensor.keySet());
  }

  /** Where tensor {@code name} lies; throws naming the directory if absent. */
  public TensorInfo info(String name) {
    return reader(name).info(name);
  }

  /** A whole tensor as floats; see {@link SafetensorsReader#readFloats}. */
  public float[] readFloats(String name) {
    return reader(name).readFloats(name);
  }

  /** Rows of a tensor as floats; see {@link SafetensorsReader#readRows}. */
  public float[] readRows(String name, long firstRow, int rowCount) {
    return reader(name).readRows(name, firstRow, rowCount);
  }

  /** Raw tensor bytes; see {@link SafetensorsReader#readRaw}. */
  public void readRaw(String name, long byteOffset, ByteBuffer dst) {
    reader(name).readRaw(name, byteOffset, dst);
  }

  private SafetensorsReader reader(String name) {
    SafetensorsReader reader = readerOfTensor.get(name);
    if (reader == null) {
      throw new IllegalArgumentException(directory + ": checkpoint has no tensor '" + name + "'");
    }
    return reader;
  }

  @Override
  public void close() {
    shards.forEach(SafetensorsReader::close);
  }
}
