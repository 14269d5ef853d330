package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.ShardOnlyReducer;
import dev.distillery.testing.TestModels;
import java.nio.file.Path;
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

  /**
   * Moments saved whole are restored into 3 shards, those shards saved and restored whole and into 2 shards: every
   * moment float comes back exactly, whatever the layouts on either side.
   */
  @Test
  void optimizerStateReshardsExactlyBetweenLayouts(@TempDir Path dir) {
    Storage storage = Storage.of(dir.toString());
    String checkpoints = dir.resolve("checkpoints").toString();
    train(WeightSource.of(studentWeights), null, 0, 2, checkpoints);
    String whole = TrainingCheckpoint.latest(storage, checkpoints).orElseThrow();
    try (LlamaModel student = LlamaModel.load(config, WeightSource.of(studentWeights), Device.cpu());
        AdamW reference = new AdamW(student.parameters(), settings)) {
      TrainingCheckpoint.restoreOptimizer(storage, whole, reference);
      assertThat(reference.steps()).isEqualTo(2);
      List<AdamW> three = shards(student, 3);
      try (StagedDirectory staged = TrainingCheckpoint.stage(storage, checkpoints, 3, "test")) {
        for (int r = 0; r < 3; r++) {
          TrainingCheckpoint.restoreOptimizer(storage, whole, three.get(r));
          assertMomentsMatch(three.get(r), reference);
          TrainingCheckpoint.writePart(storage, TrainingCheckpoint.stagingPath(checkpoints, 3, "test"), config,
              student.parameters(), three.get(r), r, 3);
        }
        TrainingCheckpoint.writeState(storage, staged.path(), new TrainingCheckpoint.State(3, 12, "test"),
            student.parameters(), three.get(0));
        staged.commit();
      }
      assertThat(three.stream().mapToLong(AdamW::stateBytes).sum()).isEqualTo(reference.stateBytes());
      String sharded = TrainingCheckpoint.latest(storage, checkpoints).orElseThrow();
      assertThat(sharded).endsWith("step-3");
      assertThat(dir.resolve("checkpoints/step-3/optimizer/shard-2-of-3.safetensors")).exists();
      try (CheckpointReader model = TrainingCheckpoint.model(storage, sharded)) { // 3 files, one per replica
        assertThat(model.tensorNames()).hasSameSizeAs(student.parameters().keySet());
        for (String name : model.tensorNames()) {
          assertThat(model.readFloats(name)).as(name).containsExactly(student.parameters().get(name).toFloatArray());
        }
      }
      assertThat(dir.resolve("checkpoints/step-3/model")).isDirectoryContaining("glob:**/model-0000[1-3]-of-0000*");
      try (AdamW again = new AdamW(student.parameters(), settings)) {
        TrainingCheckpoint.restoreOptimizer(storage, sharded, again);
        for (String name : reference.firstMoments().keySet()) {
          assertThat(again.firstMoments().get(name).toFloatArray()).as(name)
              .containsExactly(reference.firstMoments().get(name).toFloatArray());
          assertThat(again.secondMoments().get(name).toFloatArray()).as(name)
              .containsExactly(reference.secondMoments().get(name).toFloatArray());
        }
      }
      for (AdamW shard : shards(student, 2)) {
        TrainingCheckpoint.restoreOptimizer(storage, sharded, shard);
        assertMomentsMatch(shard, reference);
        shard.close();
      }
      three.forEach(AdamW::close);
    }
  }

  /** Sharded optimizers for {@code replicas} replicas, each owning part r of every bucket. */
  private List<AdamW> shards(LlamaModel student, int replicas) {
    List<AdamW> shards = new java.util.ArrayList<>();
    for (int r = 0; r < replicas; r++) {
      shards.add(new AdamW(OptimizerShard.of(student.parameters(), new ShardOnlyReducer(r, replicas)), Device.cpu(),
          settings));
    }
    return shards;
  }

  /** Each piece of {@code shard} equals the same floats of the whole moments of {@code reference}. */
  private static void assertMomentsMatch(AdamW shard, AdamW reference) {
    assertThat(shard.steps()).isEqualTo(reference.steps());
    for (OptimizerShard.Piece piece : shard.shard().pieces()) {
      for (boolean first : new boolean[] {true, false}) {
        float[] whole = (first ? reference.firstMoments() : reference.secondMoments()).get(piece.parameter())
            .toFloatArray();
        float[] expected = java.util.Arrays.copyOfRange(whole, (int) piece.offset(),
            (int) piece.offset() + piece.length());
        assertThat((first ? shard.firstMoments() : shard.secondMoments()).get(piece.key()).toFloatArray())
            .as(piece.key()).containsExactly(expected);
      }
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
  void retainDeletesOnlyCommittedCheckpointsOlderThanTheNewestKept(@TempDir Path dir) {
    Storage storage = Storage.of(dir.toString());
    String checkpoints = dir.resolve("checkpoints").toString();
    for (int step : new int[] {2, 4, 8, 10, 12}) {
      storage.writeText(Storage.resolve(TrainingCheckpoint.pathFor(checkpoints, step), Storage.COMMIT_MARKER), "");
    }
    storage.mkdirs(TrainingCheckpoint.pathFor(checkpoints, 1)); // uncommitted (a crashed write): not counted, kept
    storage.mkdirs(TrainingCheckpoint.pathFor(checkpoints, 14)); // a save in progress: kept
    List<String> deleted = TrainingCheckpoint.retain(storage, checkpoints, 2);
    assertThat(deleted).map(p -> p.substring(p.lastIndexOf('/') + 1)).containsExactly("step-2", "step-4", "step-8");
    assertThat(storage.list(checkpoints)).map(p -> p.substring(p.lastIndexOf('/') + 1))
        .containsExactlyInAnyOrder("step-1", "step-10", "step-12", "step-14");
    assertThat(TrainingCheckpoint.retain(storage, checkpoints, 1)).map(p -> p.substring(p.lastIndexOf('/') + 1))
        .containsExactly("step-10"); // the newest stays
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
        TrainingCheckpoint.restoreOptimizer(storage, resumeFrom, adam);
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
