package dev.distillery.distill;

import ai.djl.Device;
import dev.distillery.collective.CollectiveOptions;
import dev.distillery.collective.RingAllReduce;
import dev.distillery.collective.RingSecret;
import dev.distillery.spark.HadoopConf;
import dev.distillery.spark.TaskDevices;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.runtime.AbstractFunction1;

/**
 * The body of one barrier task (one rank): joins the TCP ring through the barrier rendezvous, takes its devices
 * (by default every GPU Spark assigned, the CPU when none), and trains on its partition — global sequences
 * {@code i ≡ rank (mod world)}, in index order.
 */
final class DistillTask extends AbstractFunction1<Iterator<Tuple2<Long, Tuple2<long[], TopKLogits>>>, Iterator<String>>
    implements Serializable {
  private static final Logger LOG = LoggerFactory.getLogger(DistillTask.class);

  private final HadoopConf hadoop;
  private final DistillSettings settings;
  private final long usableSequences;
  private final long[][] validation;
  private final String ringSecret;

  DistillTask(HadoopConf hadoop, DistillSettings settings, long usableSequences, long[][] validation,
      String ringSecret) {
    this.ringSecret = ringSecret;
    this.hadoop = hadoop;
    this.settings = settings;
    this.usableSequences = usableSequences;
    this.validation = validation;
  }

  @Override
  public Iterator<String> apply(Iterator<Tuple2<Long, Tuple2<long[], TopKLogits>>> rows) {
    hadoop.install();
    BarrierTaskContext context = BarrierTaskContext.get();
    int rank = context.partitionId();
    int world = context.getTaskInfos().length;
    List<long[]> mine = new ArrayList<>();
    List<TopKLogits> stored = settings.teacherLogits() == null ? null : new ArrayList<>();
    long expected = rank;
    while (rows.hasNext()) {
      Tuple2<Long, Tuple2<long[], TopKLogits>> row = rows.next();
      if (row._1() != expected) {
        throw new IllegalStateException("rank " + rank + " expected global sequence " + expected + ", got " + row._1());
      }
      mine.add(row._2()._1());
      if (stored != null) {
        stored.add(row._2()._2());
      }
      expected += world;
    }
    List<Device> devices = TaskDevices.forTask(settings.devices());
    LOG.info("rank {}/{} (stage attempt {}): {} sequences, devices {}", rank, world, context.stageAttemptNumber(),
        mine.size(), devices);
    CollectiveOptions options = ringOptions(SparkRendezvous.executorHost(context), ringSecret, context.stageId(),
        context.stageAttemptNumber(), settings.collectiveTimeoutSeconds());
    try (RingAllReduce ring = RingAllReduce.connect(rank, world, new SparkRendezvous(context), options)) {
      String summary = new RankTrainer(settings, ring, devices, context).train(mine, stored, usableSequences,
          validation);
      return JavaConverters.asScalaIterator(List.of(summary).iterator());
    }
  }

  /**
   * The ring of one barrier stage attempt: listens on and advertises the executor's host as the driver knows it,
   * proves the job's secret, and refuses peers of another stage or attempt (a rank left over from a failed attempt).
   */
  static CollectiveOptions ringOptions(String host, String secret, int stageId, int attempt, int timeoutSeconds) {
    return CollectiveOptions.defaults()
        .forHost(host)
        .withSecret(RingSecret.of(secret))
        .withSessionId("stage " + stageId + " attempt " + attempt)
        .withTimeouts(Duration.ofSeconds(timeoutSeconds), Duration.ofSeconds(timeoutSeconds));
  }
}
