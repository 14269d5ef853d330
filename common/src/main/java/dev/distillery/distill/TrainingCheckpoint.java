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
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A resumable training checkpoint, {@code checkpoints/step-N/}: the student as a Hugging Face checkpoint
 * ({@code model/}, float32), the AdamW moments ({@code optimizer.safetensors}) and {@code state.json} (step,
 * optimizer steps, data position, run fingerprint). Written into a staging directory and committed atomically, so
 * a crash mid-write leaves the previous checkpoint as the latest.
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
   * optimizer file holds both moments of every model tensor, within the file.
   *
   * @throws IllegalArgumentException naming the file and what is wrong
   */
  public static void validate(Storage storage, String checkpoint) {
    State state = readState(storage, checkpoint);
    String name = checkpoint.substring(checkpoint.lastIndexOf('/') + 1);
    if (!name.equals("step-" + state.step())) {
      throw new IllegalArgumentException(checkpoint + ": state.json says step " + state.step());
    }
    String moments = Storage.resolve(checkpoint, "optimizer.safetensors");
    try (CheckpointReader model = model(storage, checkpoint);
        SafetensorsReader optimizer = SafetensorsReader.open(storage, moments)) {
      for (String tensor : model.tensorNames()) {
        optimizer.info("m." + tensor);
        optimizer.info("v." + tensor);
      }
    }
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
