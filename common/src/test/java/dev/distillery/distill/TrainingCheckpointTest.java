package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Kill and resume: stopping after a checkpoint and continuing from it reaches the uninterrupted run's weights. */
class TrainingCheckpointTest {
  private final LlamaConfig config = TestModels.gqaConfig();
  private final Map<String, float[]> teacherWeights = TestModels.randomWeights(config, 31);
  private final Map<String, float[]> studentWeights = TestModels.randomWeights(config, 32);
  private final long[][] data = TestModels.randomTokens(8, 10, config.vocabSize(), 33);
  private final AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, 0.1);

  @Test
  void resumedRunEndsWithTheSameWeightsBitForBit(@TempDir Path dir) {
    Storage storage = Storage.of(dir.toString());
    String checkpoints = dir.resolve("checkpoints").toString();
    Map<String, float[]> uninterrupted = train(WeightSource.of(studentWeights), null, 0, 4, null);

    train(WeightSource.of(studentWeights), null, 0, 2, checkpoints); // "killed" after step 2's checkpoint
    String latest = TrainingCheckpoint.latest(storage, checkpoints).orElseThrow();
    TrainingCheckpoint.State state = TrainingCheckpoint.readState(storage, latest);
    assertThat(state.step()).isEqualTo(2);
    assertThat(state.sequencesConsumed()).isEqualTo(8);
    Map<String, float[]> resumed;
    try (CheckpointReader reader = TrainingCheckpoint.model(storage, latest)) {
      resumed = train((name, shape) -> reader.readFloats(name), latest, 2, 4, null);
    }

    for (String name : uninterrupted.keySet()) {
      assertThat(resumed.get(name)).as(name).containsExactly(uninterrupted.get(name));
    }
  }

  @Test
  void latestIgnoresUncommittedCheckpoints(@TempDir Path dir) {
    Storage storage = Storage.of(dir.toString());
    String checkpoints = dir.resolve("checkpoints").toString();
    train(WeightSource.of(studentWeights), null, 0, 1, checkpoints);
    storage.mkdirs(TrainingCheckpoint.pathFor(checkpoints, 7)); // a crashed write: no commit marker
    assertThat(TrainingCheckpoint.latest(storage, checkpoints)).hasValueSatisfying(p -> assertThat(p).endsWith(
        "step-1"));
  }

  @Test
  void latestSkipsACommittedCheckpointThatDoesNotValidate(@TempDir Path dir) throws java.io.IOException {
    Storage storage = Storage.of(dir.toString());
    String checkpoints = dir.resolve("checkpoints").toString();
    train(WeightSource.of(studentWeights), null, 0, 3, checkpoints);
    java.nio.file.Files.writeString(Path.of(TrainingCheckpoint.pathFor(checkpoints, 3), "state.json"), "{\"step\":");
    java.nio.file.Files.delete(Path.of(TrainingCheckpoint.pathFor(checkpoints, 2), "optimizer.safetensors"));
    assertThat(TrainingCheckpoint.latest(storage, checkpoints)).hasValueSatisfying(p -> assertThat(p).endsWith(
        "step-1"));
  }

  private Map<String, float[]> train(WeightSource start, String resumeFrom, int fromStep, int toStep,
      String saveTo) {
    Storage storage = Storage.of("file:///");
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(teacherWeights), Device.cpu());
        LlamaModel student = LlamaModel.load(config, start, Device.cpu());
        AdamW adam = new AdamW(student.parameters(), settings)) {
      if (resumeFrom != null) {
        TrainingCheckpoint.restoreOptimizer(storage, resumeFrom, adam, new ArrayList<>(student.parameters().keySet()));
      }
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 32), adam,
          GradientReducer.single(), 1.0);
      LearningRateSchedule schedule = new LearningRateSchedule(1e-2, 1e-3, 1, 4);
      for (int s = fromStep; s < toStep; s++) {
        List<long[][]> micro = List.of(new long[][] {data[(4 * s) % 8], data[(4 * s + 1) % 8]},
            new long[][] {data[(4 * s + 2) % 8], data[(4 * s + 3) % 8]});
        step.run(micro, schedule.at(s));
        if (saveTo != null) {
          TrainingCheckpoint.save(storage, saveTo, new TrainingCheckpoint.State(s + 1, 4L * (s + 1), "test"), config,
              student.parameters(), adam);
        }
      }
      Map<String, float[]> weights = new java.util.LinkedHashMap<>();
      for (Map.Entry<String, NDArray> p : student.parameters().entrySet()) {
        weights.put(p.getKey(), p.getValue().toFloatArray());
      }
      return weights;
    }
  }
}
