package dev.distillery.jobs.calibrate;

import dev.distillery.importance.Aggregation;
import dev.distillery.io.Storage;
import java.io.Serializable;
import java.util.Set;

/**
 * Everything a calibration run needs, as read from its configuration.
 *
 * @param run the run directory; output goes to {@code run/importance}
 * @param teacher the teacher checkpoint directory
 * @param tokenizer the teacher's tokenizer.json, or null to use {@code teacher/tokenizer.json} when it exists
 * @param tokens directory of token shards (Parquet, column {@code input_ids})
 * @param weightsOnly score weight magnitudes instead of running calibration
 * @param samples calibration sequences
 * @param seqLength tokens per calibration sequence
 * @param batchSize sequences per forward pass
 * @param partitions Spark tasks for the forward passes (0: the default parallelism)
 * @param sequenceAggregation aggregation over each sequence
 * @param batchAggregation aggregation over samples
 * @param float16 run the teacher in float16
 * @param lossSamples sequences each layer-skip candidate is scored on (0: no LM-loss layer scores)
 * @param lossBlockSizes sizes of the contiguous blocks scored besides single layers
 * @param overwrite replace a committed {@code importance} directory
 */
public record CalibrationSettings(String run, String teacher, String tokenizer, String tokens, boolean weightsOnly,
    int samples, int seqLength, int batchSize, int partitions, Aggregation sequenceAggregation,
    Aggregation batchAggregation, boolean float16, int lossSamples, Set<Integer> lossBlockSizes, boolean overwrite)
    implements Serializable {
  /** Paths made absolute on the driver, where the settings are made: the tasks run elsewhere. */
  public CalibrationSettings {
    run = Storage.absolute(run);
    teacher = Storage.absolute(teacher);
    tokenizer = Storage.absolute(tokenizer);
    tokens = Storage.absolute(tokens);
    lossBlockSizes = Set.copyOf(lossBlockSizes);
  }
}
