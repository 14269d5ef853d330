package dev.distillery.jobs.teacher;

import ai.djl.ndarray.types.DataType;
import dev.distillery.distill.TeacherTopK;
import dev.distillery.distill.TopKLogits;
import dev.distillery.jobs.spark.ExecutorModels;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskDevices;
import dev.distillery.model.LlamaModel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.util.DoubleAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Spark task of the teacher-logits job: for each token shard it is given (a path), runs the teacher (cached per
 * executor JVM, on the task's GPU or the CPU) over the shard's rows in file order, consecutive rows of one length
 * sharing a forward pass, and yields one table row per token row, lazily.
 */
final class TeacherLogitsTask implements FlatMapFunction<Iterator<String>, Row> {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(TeacherLogitsTask.class);

  private final HadoopConf hadoop;
  private final TeacherLogitsSettings settings;
  private final String fingerprint;
  private final DoubleAccumulator topKMass;

  /** @param topKMass receives, per position, the teacher's probability on its top-k ids */
  TeacherLogitsTask(HadoopConf hadoop, TeacherLogitsSettings settings, String fingerprint,
      DoubleAccumulator topKMass) {
    this.hadoop = hadoop;
    this.settings = settings;
    this.fingerprint = fingerprint;
    this.topKMass = topKMass;
  }

  @Override
  public Iterator<Row> call(Iterator<String> shards) {
    hadoop.install();
    LlamaModel teacher = ExecutorModels.get(settings.teacher(), fingerprint, TaskDevices.current(),
        settings.teacherFloat16() ? DataType.FLOAT16 : DataType.FLOAT32);
    TeacherTopK topK = new TeacherTopK(teacher, settings.topK(), settings.tailSamples(), settings.seed(),
        settings.values(), settings.chunkTokens());
    int vocab = teacher.config().vocabSize();
    return new Iterator<>() {
      private final ArrayDeque<Row> ready = new ArrayDeque<>();
      private Iterator<long[]> rows = java.util.Collections.emptyIterator();
      private String shard;
      private long[] pending;
      private long tokens;
      private long start;

      @Override
      public boolean hasNext() {
        while (ready.isEmpty() && (pending != null || rows.hasNext() || shards.hasNext())) {
          if (pending == null && !rows.hasNext()) {
            finishShard();
            shard = shards.next();
            rows = TeacherLogitsTable.tokenRows(shard);
            start = System.nanoTime();
            continue;
          }
          nextBatch();
        }
        if (ready.isEmpty()) {
          finishShard();
        }
        return !ready.isEmpty();
      }

      @Override
      public Row next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return ready.poll();
      }

      /** Up to batch-size consecutive rows of the first one's length, through the teacher. */
      private void nextBatch() {
        List<long[]> batch = new ArrayList<>();
        long[] first = pending != null ? pending : rows.next();
        pending = null;
        batch.add(check(first));
        while (batch.size() < settings.batchSize() && rows.hasNext()) {
          long[] row = check(rows.next());
          if (row.length != first.length) {
            pending = row;
            break;
          }
          batch.add(row);
        }
        long[][] inputs = batch.toArray(long[][]::new);
        TopKLogits[] out;
        synchronized (teacher) { // tasks of one executor share the model
          out = topK.of(inputs);
        }
        for (int i = 0; i < inputs.length; i++) {
          int[] ids = new int[inputs[i].length];
          for (int t = 0; t < ids.length; t++) {
            ids[t] = (int) inputs[i][t];
          }
          ready.add(RowFactory.create(ids, out[i].idBytes(), out[i].logProbBytes(), out[i].tailBytes()));
          for (int t = 0; t < ids.length; t++) {
            topKMass.add(TeacherTopK.mass(out[i], t, settings.topK()));
          }
          tokens += ids.length;
        }
      }

      private long[] check(long[] row) {
        if (row.length == 0) {
          throw new IllegalArgumentException(shard + ": a row of input_ids is empty");
        }
        for (int t = 0; t < row.length; t++) {
          if (row[t] < 0 || row[t] >= vocab) {
            throw new IllegalArgumentException(shard + ": token id " + row[t] + " at position " + t
                + " is outside the teacher's vocab_size " + vocab + "; were the shards tokenized for another model?");
          }
        }
        return row;
      }

      private void finishShard() {
        if (shard != null) {
          double seconds = (System.nanoTime() - start) / 1e9;
          LOG.info("teacher-logits: {} tokens of {} in {} s ({} tokens/s) on {}", tokens, shard,
              String.format("%.1f", seconds),
              String.format("%.0f", tokens / Math.max(seconds, 1e-9)), teacher.device());
          shard = null;
          tokens = 0;
        }
      }
    };
  }
}
