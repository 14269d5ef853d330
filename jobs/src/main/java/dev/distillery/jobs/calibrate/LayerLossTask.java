package dev.distillery.jobs.calibrate;

import ai.djl.ndarray.types.DataType;
import dev.distillery.importance.LayerSkipLoss;
import dev.distillery.jobs.spark.ExecutorModels;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskDevices;
import dev.distillery.model.LlamaModel;
import org.apache.spark.api.java.function.Function;

/** One Spark task of depth scoring: the teacher's summed loss and token count with one candidate block skipped. */
final class LayerLossTask implements Function<LayerSkipLoss.Candidate, double[]> {
  private static final long serialVersionUID = 1L;

  private final HadoopConf hadoop;
  private final CalibrationSettings settings;
  private final String fingerprint;
  private final long[][] sequences;

  LayerLossTask(HadoopConf hadoop, CalibrationSettings settings, String fingerprint, long[][] sequences) {
    this.hadoop = hadoop;
    this.settings = settings;
    this.fingerprint = fingerprint;
    this.sequences = sequences;
  }

  @Override
  public double[] call(LayerSkipLoss.Candidate candidate) {
    hadoop.install();
    LlamaModel model = ExecutorModels.get(settings.teacher(), fingerprint, TaskDevices.current(),
        settings.float16() ? DataType.FLOAT16 : DataType.FLOAT32);
    synchronized (model) {
      return LayerSkipLoss.sumAndCount(model, sequences, candidate.layers());
    }
  }
}
