package dev.distillery.jobs.distill;

import ai.djl.Device;
import dev.distillery.distill.AdamW;
import dev.distillery.distill.ChunkedLogitLoss;
import dev.distillery.distill.GradientReducer;
import dev.distillery.distill.OptimizerShard;
import dev.distillery.distill.TrainingCheckpoint;
import dev.distillery.distill.TrainingStep;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaModel;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One device's copy of the student within a rank, with its optimizer state and training step. */
final class Replica implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Replica.class);

  final Device device;
  final LlamaModel student;
  final AdamW optimizer;
  final TrainingStep step;

  private Replica(Device device, LlamaModel student, AdamW optimizer, TrainingStep step) {
    this.device = device;
    this.student = student;
    this.optimizer = optimizer;
    this.step = step;
  }

  /**
   * Loads the student from {@code source} onto {@code device}, with the optimizer state of {@code checkpoint}
   * (null to start fresh).
   *
   * @param teacher the teacher on the same device, or null when the loss needs none
   */
  static Replica load(DistillSettings settings, String source, String checkpoint, Device device, LlamaModel teacher,
      GradientReducer reducer) {
    LlamaModel student;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(source), source)) {
      student = LlamaModel.load(reader.config(), (name, shape) -> reader.readFloats(name), device);
    }
    // a vocab_size difference was checked to be padding of one tokenizer (DistillJob.checkInputs, VocabAlignment)
    AdamW.Settings adam = new AdamW.Settings(settings.beta1(), settings.beta2(), 1e-8, settings.weightDecay());
    AdamW optimizer = settings.shardOptimizer()
        ? new AdamW(OptimizerShard.of(student.parameters(), reducer), device, adam)
        : new AdamW(student.parameters(), adam);
    LOG.info("{}: optimizer state {} MB{}", device, String.format("%.1f", optimizer.stateBytes() / 1e6),
        optimizer.shard() == null ? "" : " (shard " + optimizer.shard().replica() + " of "
            + optimizer.shard().replicas() + ")");
    if (checkpoint != null) {
      TrainingCheckpoint.restoreOptimizer(Storage.of(checkpoint), checkpoint, optimizer);
    }
    TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(settings.lossSpec(),
        settings.chunkTokens()), settings.hiddenStateLoss(), optimizer, reducer, settings.clip(),
        settings.recomputeLayers(), settings.shardGradients());
    return new Replica(device, student, optimizer, step);
  }

  /** This replica's share of a rank's micro-batches: every {@code replicas}-th from its {@code index}. */
  static <T> List<T> share(List<T> microBatches, int index, int replicas) {
    if (microBatches == null) {
      return null;
    }
    List<T> mine = new ArrayList<>();
    for (int i = index; i < microBatches.size(); i += replicas) {
      mine.add(microBatches.get(i));
    }
    return mine;
  }

  @Override
  public void close() {
    try (student) {
      optimizer.close();
    }
  }
}
