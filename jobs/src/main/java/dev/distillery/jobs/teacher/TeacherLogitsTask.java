package dev.distillery.jobs.teacher;

import ai.djl.ndarray.types.DataType;
import dev.distillery.distill.TeacherTopK;
import dev.distillery.distill.WindowedTopK;
import dev.distillery.jobs.spark.ExecutorModels;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskDevices;
import dev.distillery.model.LlamaModel;
import java.util.Collections;
import java.util.Iterator;
import java.util.NoSuchElementException;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.util.DoubleAccumulator;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Spark task of the teacher-logits job: for each token shard it is given (a path), runs the teacher (cached per
 * executor JVM, on the task's GPU or the CPU) over the shard's rows in file order, a row longer than the teacher's
 * max_position_embeddings as its windows, each on its own ({@link WindowedTopK}), consecutive windows of one length
 * sharing a forward pass, and yields one table row per token row, lazily.
 */
final class TeacherLogitsTask implements FlatMapFunction<Iterator<String>, Row> {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(TeacherLogitsTask.class);

  private final HadoopConf hadoop;
  private final TeacherLogitsSettings settings;
  private final String fingerprint;
  private final DoubleAccumulator topKMass;
  private final LongAccumulator cutRows;

  /**
   * @param topKMass receives, per position, the teacher's probability on its top-k ids
   * @param cutRows counts the rows longer than the teacher's context, run as windows
   */
  TeacherLogitsTask(HadoopConf hadoop, TeacherLogitsSettings settings, String fingerprint,
      DoubleAccumulator topKMass, LongAccumulator cutRows) {
    this.hadoop = hadoop;
    this.settings = settings;
    this.fingerprint = fingerprint;
    this.topKMass = topKMass;
    this.cutRows = cutRows;
  }

  @Override
  public Iterator<Row> call(Iterator<String> shards) {
    hadoop.install();
    LlamaModel teacher = ExecutorModels.get(settings.teacher(), fingerprint, TaskDevices.current(),
        settings.teacherFloat16() ? DataType.FLOAT16 : DataType.FLOAT32);
    TeacherTopK topK = new TeacherTopK(teacher, settings.topK(), settings.tailSamples(), settings.seed(),
        settings.values(), settings.chunkTokens());
    int window = teacher.config().maxPositionEmbeddings();
    WindowedTopK windowed = new WindowedTopK(inputs -> {
      synchronized (teacher) { // tasks of one executor share the model
        return topK.of(inputs);
      }
    }, window, settings.batchSize());
    int vocab = teacher.config().vocabSize();
    return new Iterator<>() {
      private Iterator<WindowedTopK.Scored> rows = Collections.emptyIterator();
      private String shard;
      private long tokens;
      private long cut;
      private long start;

      @Override
      public boolean hasNext() {
        while (!rows.hasNext() && shards.hasNext()) {
          finishShard();
          shard = shards.next();
          Iterator<long[]> read = TeacherLogitsTable.tokenRows(shard);
          rows = windowed.over(new Iterator<>() {
            @Override
            public boolean hasNext() {
              return read.hasNext();
            }

            @Override
            public long[] next() {
              return check(read.next());
            }
          });
          start = System.nanoTime();
        }
        if (!rows.hasNext()) {
          finishShard();
          return false;
        }
        return true;
      }

      @Override
      public Row next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        WindowedTopK.Scored scored = rows.next();
        int[] ids = new int[scored.ids().length];
        for (int t = 0; t < ids.length; t++) {
          ids[t] = (int) scored.ids()[t];
          topKMass.add(TeacherTopK.mass(scored.logits(), t, settings.topK()));
        }
        tokens += ids.length;
        if (scored.cut()) {
          cut++;
          cutRows.add(1);
        }
        return RowFactory.create(ids, scored.logits().idBytes(), scored.logits().logProbBytes(),
            scored.logits().tailBytes());
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
          LOG.info("teacher-logits: {} tokens of {} in {} s ({} tokens/s) on {}; {} rows longer than {} tokens "
              + "(max_position_embeddings) run as windows", tokens, shard, String.format("%.1f", seconds),
              String.format("%.0f", tokens / Math.max(seconds, 1e-9)), teacher.device(), cut, window);
          shard = null;
          tokens = 0;
          cut = 0;
        }
      }
    };
  }
}
