package dev.distillery.jobs.calibrate;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.distillery.importance.ActivationCollector;
import dev.distillery.importance.ImportanceStatistics;
import dev.distillery.jobs.spark.ExecutorModels;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskDevices;
import dev.distillery.model.LlamaModel;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Spark task of calibration: runs the teacher (cached per executor JVM, on the task's GPU or the CPU) over a
 * partition of sequences ({@code input_ids}, source file) in batches and returns its partial statistics.
 */
final class CalibrationTask implements FlatMapFunction<Iterator<Row>, ImportanceStatistics> {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(CalibrationTask.class);

  private final HadoopConf hadoop;
  private final CalibrationSettings settings;
  private final String fingerprint;
  private final int vocabSize;

  CalibrationTask(HadoopConf hadoop, CalibrationSettings settings, String fingerprint, int vocabSize) {
    this.hadoop = hadoop;
    this.settings = settings;
    this.fingerprint = fingerprint;
    this.vocabSize = vocabSize;
  }

  @Override
  public Iterator<ImportanceStatistics> call(Iterator<Row> rows) {
    hadoop.install();
    LlamaModel model = ExecutorModels.get(settings.teacher(), fingerprint, TaskDevices.current(),
        settings.float16() ? DataType.FLOAT16 : DataType.FLOAT32);
    long start = System.nanoTime();
    synchronized (model) {
      try (ActivationCollector collector = new ActivationCollector(model, settings.sequenceAggregation());
          NDManager manager = NDManager.newBaseManager(model.device())) {
        // Rows of one length share a batch (document rows vary): per-sample statistics need no padding.
        Map<Integer, List<long[]>> batches = new TreeMap<>();
        int shortRows = 0;
        while (rows.hasNext()) {
          Row row = rows.next();
          long[] sample = TokenShards.sample(row.getList(0), row.getString(1), settings.seqLength(), vocabSize);
          shortRows += sample.length < settings.seqLength() ? 1 : 0;
          List<long[]> batch = batches.computeIfAbsent(sample.length, n -> new ArrayList<>());
          batch.add(sample);
          if (batch.size() == settings.batchSize()) {
            observe(collector, manager, batch);
          }
        }
        for (List<long[]> batch : batches.values()) {
          if (!batch.isEmpty()) {
            observe(collector, manager, batch);
          }
        }
        if (shortRows > 0) {
          LOG.info("Calibration task: {} rows shorter than seq-length {} were used at their own length", shortRows,
              settings.seqLength());
        }
        ImportanceStatistics statistics = collector.statistics();
        double seconds = (System.nanoTime() - start) / 1e9;
        LOG.info("Calibration task: {} samples, {} tokens in {} s ({} tokens/s) on {}", statistics.samples(),
            statistics.tokens(), String.format("%.1f", seconds), String.format("%.0f", statistics.tokens() / seconds),
            model.device());
        return List.of(statistics).iterator();
      }
    }
  }

  /** One forward pass over a batch of equal-length samples, which is then emptied. */
  private static void observe(ActivationCollector collector, NDManager manager, List<long[]> batch) {
    try (NDManager step = manager.newSubManager()) {
      collector.observe(step.create(batch.toArray(long[][]::new)));
    }
    batch.clear();
  }
}
