package dev.distillery.collective;

import java.util.List;

/**
 * How the ranks of a collective find each other: every rank calls {@link #allGather} with its own value,
 * and every rank gets all values in rank order. On Spark this is {@code BarrierTaskContext.allGather}.
 */
@FunctionalInterface
public interface Rendezvous {
  /**
   * Blocks until every rank has contributed, then returns all ranks' values, index = rank.
   *
   * @throws CollectiveException if the rendezvous fails or times out
   */
  List<String> allGather(String myValue);
}
