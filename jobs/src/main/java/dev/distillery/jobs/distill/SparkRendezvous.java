package dev.distillery.jobs.distill;

import dev.distillery.collective.Rendezvous;
import java.util.List;
import org.apache.spark.BarrierTaskContext;

/** The collective's rendezvous through Spark: every barrier task publishes its address with allGather. */
final class SparkRendezvous implements Rendezvous {
  private final BarrierTaskContext context;

  SparkRendezvous(BarrierTaskContext context) {
    this.context = context;
  }

  /**
   * The host of the executor this barrier task runs on, as the driver knows it (its address without the port): the
   * address other executors can reach, unlike {@code InetAddress.getLocalHost()}, which is often a loopback address.
   */
  static String executorHost(BarrierTaskContext context) {
    return host(context.getTaskInfos()[context.partitionId()].address());
  }

  /** The host of a task address as Spark gives it ({@code host:port}, {@code [ipv6]:port} or a bare host). */
  static String host(String address) {
    int colon = address.lastIndexOf(':');
    String host = colon > 0 ? address.substring(0, colon) : address;
    return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
  }

  @Override
  public List<String> allGather(String myValue) {
    return List.of(context.allGather(myValue));
  }
}
