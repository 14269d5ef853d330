package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.DType;
import dev.distillery.io.SafetensorsReader;
import dev.distillery.io.SafetensorsWriter;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaConfig;
import dev.distillery.io.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A resumable training checkpoint, {@code checkpoints/step-N/}: the student as a Hugging Face checkpoint
 * ({@code model/}, float32), the AdamW moments ({@code optimizer.safetensors}) and {@code state.json} (step,
 * optimizer steps, data position, run fingerprint). Written into a staging directory and committed atomically, so
 * a crash mid-write leaves the previous checkpoint as the latest.
 *
 * <p>Every replica of a job writes its part ({@link #writePart}) straight into the checkpoint's staging directory, in
 * parallel: a share of the weight files and, with a sharded optimizer, its optimizer shard; the lead adds the state
 * ({@link #writeState}) and commits once all parts are written. A sharded optimizer's moments are
 * {@code optimizer/shard-I-of-N.safetensors}, one per replica, holding tensors {@code m.NAME@OFFSET}
 * and {@code v.NAME@OFFSET} (floats from OFFSET of parameter NAME, flattened); {@code state.json} records N as
 * {@code optimizer_shards}. Restoring reads only the pieces a replica needs, one moment at a time, from any layout:
 * a run resumes exactly with another world size, devices, or with sharding switched on or off.
 */
public final class TrainingCheckpoint {
  private static final Logger LOG = LoggerFactory.getLogger(TrainingCheckpoint.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

  /**
   * What a checkpoint records besides weights.
   *
   * @param step optimisation steps completed
   * @param sequencesConsumed global sequences consumed from the training data (the data position)
   * @param fingerprint identifies the run's settings; resuming a different run is refused
   */
  public record State(int step, long sequencesConsumed, String fingerprint) {}

  private TrainingCheckpoint() {}

  /** Path of the checkpoint of step {@code step} under {@code checkpointsDir}. */
  public static String pathFor(String checkpointsDir, int step) {
    return Storage.resolve(checkpointsDir, "step-" + step);
  }

  /**
   * Starts the checkpoint of step {@code step}: stages it in {@link #stagingPath stagingPath(checkpointsDir, step,
   * id)} (removing what an earlier, killed save of the same step left), for every replica's {@link #writePart} and
   * the lead's {@link #writeState}; the caller commits it once all have returned.
   */
  public static StagedDirectory stage(Storage storage, String checkpointsDir, int step, String id) {
    return storage.stage(pathFor(checkpointsDir, step), true, id);
  }

  /** Where the checkpoint of step {@code step} with staging id {@code id} is written until its commit. */
  public static String stagingPath(String checkpointsDir, int step, String id) {
    return StagedDirectory.pathFor(pathFor(checkpointsDir, step), id);
  }

  /**
   * Writes replica {@code replica}'s part of a checkpoint straight into its staging directory {@code staging}: its
   * share of the student's float32 weight files ({@code model/}, files of about a {@code replicas}-th of the
   * weights, file i written by replica i mod {@code replicas}; replica 0 also writes the config and index) and, for a
   * sharded {@code optimizer}, its optimizer shard ({@code optimizer/shard-I-of-N.safetensors}), tensor by tensor.
   * Every replica holds the same weights, so the replicas' parts make the whole checkpoint.
   */
  public static void writePart(Storage storage, String staging, LlamaConfig config, Map<String, NDArray> parameters,
      AdamW optimizer, int replica, int replicas) {
    long bytes = parameters.values().stream().mapToLong(p -> p.size() * Float.BYTES).sum();
    long fileBytes = Math.min(CheckpointWriter.DEFAULT_MAX_SHARD_BYTES, Math.max(1, (bytes + replicas - 1) / replicas));
    try (CheckpointWriter model = CheckpointWriter.part(storage, Storage.resolve(staging, "model"),
        config.withTorchDtype("float32"), DType.F32, fileBytes, replica, replicas)) {
      for (String name : model.tensorNames()) {
        model.write(name, parameters.get(name).toFloatArray());
      }
      model.commit();
    }
    OptimizerShard shard = optimizer.shard();
    if (shard != null) {
      String file = Storage.resolve(Storage.resolve(staging, "optimizer"), shardFile(shard.replica(),
          shard.replicas()));
      try (SafetensorsWriter moments = new SafetensorsWriter(storage, file)) {
        for (OptimizerShard.Piece piece : shard.pieces()) {
          moments.declare("m." + piece.key(), DType.F32, new long[] {piece.length()});
          moments.declare("v." + piece.key(), DType.F32, new long[] {piece.length()});
        }
        for (OptimizerShard.Piece piece : shard.pieces()) {
          moments.write("m." + piece.key(), optimizer.firstMoments().get(piece.key()).toFloatArray());
          moments.write("v." + piece.key(), optimizer.secondMoments().get(piece.key()).toFloatArray());
        }
      }
    }
  }

  private static String shardFile(int replica, int replicas) {
    return "shard-" + replica + "-of-" + replicas + ".safetensors";
  }

  /**
   * The lead replica's part besides {@link #writePart}: {@code state.json} and, for an unsharded {@code optimizer},
   * the whole AdamW moments ({@code optimizer.safetensors}).
   */
  public static void writeState(Storage storage, String staging, State state, Map<String, NDArray> parameters,
      AdamW optimizer) {
    if (optimizer.shard() == null) {
      writeMoments(storage, Storage.resolve(staging, "optimizer.safetensors"), parameters, optimizer);
    }
    ObjectNode json = JSON.createObjectNode();
    json.put("step", state.step());
    json.put("optimizer_steps", optimizer.steps());
    if (optimizer.shard() != null) {
      json.put("optimizer_shards", optimizer.shard().replicas());
    }
    json.put("sequences_consumed", state.sequencesConsumed());
    json.put("fingerprint", state.fingerprint());
    storage.writeText(Storage.resolve(staging, "state.json"), json.toPrettyString());
  }

  /** Writes and commits the checkpoint of a single replica with an unsharded {@code optimizer}. */
  public static void save(Storage storage, String checkpointsDir, State state, LlamaConfig config,
      Map<String, NDArray> parameters, AdamW optimizer) {
    if (optimizer.shard() != null) {
      throw new IllegalArgumentException("a sharded optimizer's checkpoint is written by every replica (writePart)");
    }
    try (StagedDirectory staged = stage(storage, checkpointsDir, state.step(), UUID.randomUUID().toString())) {
      writePart(storage, staged.path(), config, parameters, optimizer, 0, 1);
      writeState(storage, staged.path(), state, parameters, optimizer);
      staged.commit();
    }
  }

  private static void writeMoments(Storage storage, String file, Map<String, NDArray> parameters, AdamW optimizer) {
    try (SafetensorsWriter moments = new SafetensorsWriter(storage, file)) {
      for (Map.Entry<String, NDArray> p : parameters.entrySet()) {
        moments.declare("m." + p.getKey(), DType.F32, p.getValue().getShape().getShape());
        moments.declare("v." + p.getKey(), DType.F32, p.getValue().getShape().getShape());
      }
      for (String name : parameters.keySet()) {
        moments.write("m." + name, optimizer.firstMoments().get(name).toFloatArray());
        moments.write("v." + name, optimizer.secondMoments().get(name).toFloatArray());
      }
    }
  }

  /**
   * The committed checkpoint with the highest step under {@code checkpointsDir} that {@linkplain #validate
   * validates}, if any. A newer one that is committed but does not validate (a corrupted or truncated file) is
   * skipped with a warning naming it and why: resuming from it would fail every attempt the same way.
   */
  public static Optional<String> latest(Storage storage, String checkpointsDir) {
    if (!storage.exists(checkpointsDir)) {
      return Optional.empty();
    }
    TreeMap<Integer, String> committed = new TreeMap<>();
    for (String child : storage.list(checkpointsDir)) {
      Matcher m = STEP_DIR.matcher(child.substring(child.lastIndexOf('/') + 1));
      if (m.matches() && storage.isCommitted(child)) {
        committed.put(Integer.parseInt(m.group(1)), child);
      }
    }
    for (String candidate : committed.descendingMap().values()) {
      try {
        validate(storage, candidate);
        return Optional.of(candidate);
      } catch (RuntimeException e) {
        LOG.warn("checkpoint {} is committed but does not validate; skipped, falling back to an older one: {}",
            candidate, e.getMessage());
      }
    }
    return Optional.empty();
  }

  /**
   * Checks that training can resume from {@code checkpoint} without reading its tensors: {@code state.json} names
   * the step of the directory, the model's config and shards are whole (every tensor within its file) and the
   * optimizer state (one file, or a sharded run's shard files) holds both moments of every element of every model
   * tensor, each piece within its file.
   *
   * @throws IllegalArgumentException naming the file and what is wrong
   */
  public static void validate(Storage storage, String checkpoint) {
    State state = readState(storage, checkpoint);
    String name = checkpoint.substring(checkpoint.lastIndexOf('/') + 1);
    if (!name.equals("step-" + state.step())) {
      throw new IllegalArgumentException(checkpoint + ": state.json says step " + state.step());
    }
    Map<String, long[]> saved = new HashMap<>(); // parameter -> elements of its m and v pieces, over every file
    for (String file : optimizerFiles(checkpoint, stateJson(storage, checkpoint))) {
      try (SafetensorsReader optimizer = SafetensorsReader.open(storage, file)) {
        for (TensorInfo t : optimizer.tensors().values()) {
          int moment = t.name().startsWith("m.") ? 0 : t.name().startsWith("v.") ? 1 : -1;
          if (moment >= 0) {
            String key = t.name().substring(2);
            int at = key.lastIndexOf('@'); // a shard's piece: NAME@OFFSET
            saved.computeIfAbsent(at < 0 ? key : key.substring(0, at), k -> new long[2])[moment] += t.elementCount();
          }
        }
      }
    }
    try (CheckpointReader model = model(storage, checkpoint)) {
      for (String tensor : model.tensorNames()) {
        long elements = model.info(tensor).elementCount();
        long[] moments = saved.getOrDefault(tensor, new long[2]);
        if (moments[0] != elements || moments[1] != elements) {
          throw new IllegalArgumentException(checkpoint + ": the optimizer state holds " + moments[0] + " and "
              + moments[1] + " of the " + elements + " elements of " + tensor + "'s two moments");
        }
      }
    }
  }

  /**
   * Deletes committed checkpoints older than the newest {@code keep} committed ones; the newest (the one a resume
   * uses) always stays, and uncommitted directories are left alone. Each one loses its commit marker first, so one
   * whose deletion is interrupted (on S3 a tree is deleted object by object) is never taken for a checkpoint.
   *
   * @param keep committed checkpoints to keep, at least 1
   * @return the deleted checkpoints, oldest first
   */
  public static List<String> retain(Storage storage, String checkpointsDir, int keep) {
    if (keep < 1) {
      throw new IllegalArgumentException("keep must be >= 1, got " + keep);
    }
    java.util.TreeMap<Integer, String> committed = new java.util.TreeMap<>();
    if (storage.exists(checkpointsDir)) {
      for (String child : storage.list(checkpointsDir)) {
        Matcher m = STEP_DIR.matcher(child.substring(child.lastIndexOf('/') + 1));
        if (m.matches() && storage.isCommitted(child)) {
          committed.put(Integer.parseInt(m.group(1)), child);
        }
      }
    }
    List<String> deleted = new java.util.ArrayList<>();
    while (committed.size() > keep) {
      String oldest = committed.pollFirstEntry().getValue();
      storage.delete(Storage.resolve(oldest, Storage.COMMIT_MARKER));
      storage.delete(oldest);
      deleted.add(oldest);
    }
    return deleted;
  }

  /** Reads {@code state.json} of a checkpoint. */
  public static State readState(Storage storage, String checkpoint) {
    String file = Storage.resolve(checkpoint, "state.json");
    try {
      JsonNode node = JSON.readTree(storage.readText(file));
      return new State(node.get("step").asInt(), node.get("sequences_consumed").asLong(),
          node.get("fingerprint").asText());
    } catch (IOException | NullPointerException e) {
      throw new IllegalArgumentException(file + ": not a valid training state (" + e.getMessage() + ")", e);
    }
  }

  /** The student weights of a checkpoint, as a reader for {@code LlamaModel.load}. */
  public static CheckpointReader model(Storage storage, String checkpoint) {
    return CheckpointReader.open(storage, Storage.resolve(checkpoint, "model"));
  }

  private static JsonNode stateJson(Storage storage, String checkpoint) {
    try {
      return JSON.readTree(storage.readText(Storage.resolve(checkpoint, "state.json")));
    } catch (IOException e) {
      throw new IllegalArgumentException(checkpoint + ": unreadable state.json", e);
    }
  }

  /** The optimizer state's files: {@code optimizer.safetensors}, or one shard file per replica of a sharded run. */
  private static List<String> optimizerFiles(String checkpoint, JsonNode state) {
    int shards = state.path("optimizer_shards").asInt(0);
    List<String> files = new ArrayList<>();
    if (shards == 0) {
      files.add(Storage.resolve(checkpoint, "optimizer.safetensors"));
    } else {
      for (int i = 0; i < shards; i++) {
        files.add(Storage.resolve(Storage.resolve(checkpoint, "optimizer"), shardFile(i, shards)));
      }
    }
    return files;
  }

  /**
   * Restores the optimizer moments and step count saved in {@code checkpoint}, whichever layout saved them and
   * whichever {@code optimizer} (replicated or a shard) reads them; one moment is in the heap at a time.
   */
  public static void restoreOptimizer(Storage storage, String checkpoint, AdamW optimizer) {
    JsonNode state = stateJson(storage, checkpoint);
    List<String> files = optimizerFiles(checkpoint, state);
    Map<String, OptimizerShard.Piece> wanted = new HashMap<>();
    if (optimizer.shard() != null) {
      optimizer.shard().pieces().forEach(p -> wanted.put(p.key(), p));
    } else {
      optimizer.firstMoments().forEach((name, m) -> wanted.put(name,
          new OptimizerShard.Piece(name, 0, Math.toIntExact(m.size()), false, -1, 0)));
    }
    List<SafetensorsReader> readers = new ArrayList<>();
    try {
      Map<String, List<SavedPiece>> saved = new HashMap<>();
      for (String file : files) {
        SafetensorsReader reader = SafetensorsReader.open(storage, file);
        readers.add(reader);
        for (TensorInfo t : reader.tensors().values()) {
          if (t.name().startsWith("m.")) {
            String key = t.name().substring(2);
            int at = key.lastIndexOf('@');
            String parameter = at < 0 ? key : key.substring(0, at);
            long offset = at < 0 ? 0 : Long.parseLong(key.substring(at + 1));
            saved.computeIfAbsent(parameter, k -> new ArrayList<>())
                .add(new SavedPiece(reader, key, offset, t.elementCount()));
          }
        }
      }
      optimizer.restore(state.get("optimizer_steps").asLong(), (moment, key) -> read(saved, moment, wanted.get(key),
          checkpoint));
    } finally {
      readers.forEach(SafetensorsReader::close);
    }
  }

  /** A saved moment: floats {@code [offset, offset + length)} of a parameter, as tensors m.KEY and v.KEY. */
  private record SavedPiece(SafetensorsReader reader, String key, long offset, long length) {}

  /** The floats of {@code piece} of moment {@code moment}, copied from the saved pieces that overlap it. */
  private static float[] read(Map<String, List<SavedPiece>> saved, char moment, OptimizerShard.Piece piece,
      String checkpoint) {
    byte[] bytes = new byte[Math.multiplyExact(piece.length(), Float.BYTES)];
    long covered = 0;
    for (SavedPiece s : saved.getOrDefault(piece.parameter(), List.of())) {
      long from = Math.max(s.offset(), piece.offset());
      long to = Math.min(s.offset() + s.length(), piece.offset() + piece.length());
      if (from < to) {
        String name = moment + "." + s.key();
        if (s.reader().info(name).dtype() != DType.F32) {
          throw new IllegalArgumentException(s.reader().file() + ": optimizer tensor " + name + " is not F32");
        }
        s.reader().readRaw(name, (from - s.offset()) * Float.BYTES, ByteBuffer.wrap(bytes,
            Math.toIntExact((from - piece.offset()) * Float.BYTES), Math.toIntExact((to - from) * Float.BYTES)));
        covered += to - from;
      }
    }
    if (covered != piece.length()) {
      throw new IllegalArgumentException(checkpoint + ": the optimizer state holds " + covered + " of the "
          + piece.length() + " floats of moment " + moment + " of " + piece.parameter() + " from " + piece.offset());
    }
    float[] values = new float[piece.length()];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
    return values;
  }
}
