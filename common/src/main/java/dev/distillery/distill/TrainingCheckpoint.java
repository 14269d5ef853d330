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
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A resumable training checkpoint, {@code checkpoints/step-N/}: the student as a Hugging Face checkpoint
 * ({@code model/}, float32), the AdamW moments ({@code optimizer.safetensors}) and {@code state.json} (step,
 * optimizer steps, data position, run fingerprint). Written into a staging directory and committed atomically, so
 * a crash mid-write leaves the previous checkpoint as the latest.
 */
public final class TrainingCheckpoint {
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

  /** Writes and commits a checkpoint. */
  public static void save(Storage storage, String checkpointsDir, State state, LlamaConfig config,
      Map<String, NDArray> parameters, AdamW optimizer) {
    String target = pathFor(checkpointsDir, state.step());
    try (StagedDirectory staged = storage.stage(target, true)) {
      try (CheckpointWriter model = CheckpointWriter.create(storage, staged.file("model"), config.withTorchDtype(
          "float32"), DType.F32)) {
        for (String name : model.tensorNames()) {
          model.write(name, parameters.get(name).toFloatArray());
        }
        model.commit();
      }
      try (SafetensorsWriter moments = new SafetensorsWriter(storage, staged.file("optimizer.safetensors"))) {
        for (Map.Entry<String, NDArray> p : parameters.entrySet()) {
          moments.declare("m." + p.getKey(), DType.F32, p.getValue().getShape().getShape());
          moments.declare("v." + p.getKey(), DType.F32, p.getValue().getShape().getShape());
        }
        for (String name : parameters.keySet()) {
          moments.write("m." + name, optimizer.firstMoments().get(name).toFloatArray());
          moments.write("v." + name, optimizer.secondMoments().get(name).toFloatArray());
        }
      }
      ObjectNode json = JSON.createObjectNode();
      json.put("step", state.step());
      json.put("optimizer_steps", optimizer.steps());
      json.put("sequences_consumed", state.sequencesConsumed());
      json.put("fingerprint", state.fingerprint());
      storage.writeText(staged.file("state.json"), json.toPrettyString());
      staged.commit();
    }
  }

  /** The committed checkpoint with the highest step under {@code checkpointsDir}, if any. */
  public static Optional<String> latest(Storage storage, String checkpointsDir) {
    if (!storage.exists(checkpointsDir)) {
      return Optional.empty();
    }
    String best = null;
    int bestStep = -1;
    for (String child : storage.list(checkpointsDir)) {
      String name = child.substring(child.lastIndexOf('/') + 1);
      Matcher m = STEP_DIR.matcher(name);
      if (m.matches() && storage.isCommitted(child) && Integer.parseInt(m.group(1)) > bestStep) {
        bestStep = Integer.parseInt(m.group(1));
        best = child;
      }
    }
    return Optional.ofNullable(best);
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

  /** Restores the optimizer moments and step count saved in {@code checkpoint}. */
  public static void restoreOptimizer(Storage storage, String checkpoint, AdamW optimizer,
      List<String> parameterNames) {
    String file = Storage.resolve(checkpoint, "optimizer.safetensors");
    Map<String, float[]> first = new HashMap<>();
    Map<String, float[]> second = new HashMap<>();
    try (SafetensorsReader reader = SafetensorsReader.open(storage, file)) {
      for (String name : parameterNames) {
        first.put(name, reader.readFloats("m." + name));
        second.put(name, reader.readFloats("v." + name));
      }
    }
    try {
      long steps = JSON.readTree(storage.readText(Storage.resolve(checkpoint, "state.json")))
          .get("optimizer_steps").asLong();
      optimizer.restore(steps, first, second);
    } catch (IOException e) {
      throw new IllegalArgumentException(checkpoint + ": unreadable state.json", e);
    }
  }
}
