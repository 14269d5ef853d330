package dev.distillery.distill;

import dev.distillery.collective.Rendezvous;
import java.util.List;
import org.apache.spark.BarrierTaskContext;

/** The collective's rendezvous through Spark: every barrier task publishes its address with allGather. */
final class SparkRendezvous implements Rendezvous {
  private final BarrierTaskContext context;

  SparkRendezvous(BarrierTaskContext context) {
    this.context = context;
  }

  @Override
  public List<String> allGather(String myValue) {
    return List.of(context.allGather(myValue));
  }
}
