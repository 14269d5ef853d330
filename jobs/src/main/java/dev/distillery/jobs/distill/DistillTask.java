package dev.distillery.jobs.distill;

import ai.djl.Device;
import dev.distillery.collective.CollectiveOptions;
import dev.distillery.collective.RingAllReduce;
import dev.distillery.collective.RingSecret;
import dev.distillery.distill.OrderedSequences;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskDevices;
import java.io.Serializable;
import java.time.Duration;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.runtime.AbstractFunction1;

/**
 * The body of one barrier task (one rank): joins the TCP ring through the barrier rendezvous, takes its devices
 * (by default every GPU Spark assigned, the CPU when none), and trains on global sequences
 * {@code i ≡ rank (mod world)}, streamed from the data order.
 */
final class DistillTask extends AbstractFunction1<Iterator<Integer>, Iterator<String>>
    implements Serializable {
  private static final Logger LOG = LoggerFactory.getLogger(DistillTask.class);

  private final HadoopConf hadoop;
  private final DistillSettings settings;
  private final String dataOrder;
  private final long usableSequences;
  private final long[][] validation;
  private final String ringSecret;

  DistillTask(HadoopConf hadoop, DistillSettings settings, String dataOrder, long usableSequences,
      long[][] validation, String ringSecret) {
    this.ringSecret = ringSecret;
    this.hadoop = hadoop;
    this.settings = settings;
    this.dataOrder = dataOrder;
    this.usableSequences = usableSequences;
    this.validation = validation;
  }

  @Override
  public Iterator<String> apply(Iterator<Integer> unused) {
    hadoop.install();
    BarrierTaskContext context = BarrierTaskContext.get();
    int rank = context.partitionId();
    int world = context.getTaskInfos().length;
    List<Device> devices = TaskDevices.forTask(settings.devices());
    LOG.info("rank {}/{} (stage attempt {}): streaming its share of {} sequences from {}, devices {}", rank, world,
        context.stageAttemptNumber(), usableSequences, dataOrder, devices);
    CollectiveOptions options = ringOptions(SparkRendezvous.executorHost(context), ringSecret, context.stageId(),
        context.stageAttemptNumber(), settings.collectiveTimeoutSeconds());
    try (OrderedSequences data = OrderedSequences.open(dev.distillery.io.Storage.of(dataOrder), dataOrder);
        RingAllReduce ring = RingAllReduce.connect(rank, world, new SparkRendezvous(context), options)) {
      String summary = new RankTrainer(settings, ring, devices, context).train(data, usableSequences, validation);
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
