package dev.distillery.prune;

/**
 * What one kept decoder layer keeps of its source layer. Indices refer to the source model and are strictly
 * ascending, so the kept units stay in their original order.
 *
 * @param sourceLayer the teacher layer this student layer is cut from
 * @param kvHeads kept key/value heads
 * @param queryHeads kept query heads; each kept KV head keeps the same number of query heads of its own group
 * @param neurons kept FFN neurons (rows of gate/up, columns of down)
 */
public record LayerPlan(int sourceLayer, int[] kvHeads, int[] queryHeads, int[] neurons) {
  public LayerPlan {
    kvHeads = kvHeads.clone();
    queryHeads = queryHeads.clone();
    neurons = neurons.clone();
  }

  @Override
  public int[] kvHeads() {
    return kvHeads.clone();
  }

  @Override
  public int[] queryHeads() {
    return queryHeads.clone();
  }

  @Override
  public int[] neurons() {
    return neurons.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof LayerPlan p && p.sourceLayer == sourceLayer && java.util.Arrays.equals(p.kvHeads, kvHeads)
        && java.util.Arrays.equals(p.queryHeads, queryHeads) && java.util.Arrays.equals(p.neurons, neurons);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * (31 * sourceLayer + java.util.Arrays.hashCode(kvHeads)) + java.util.Arrays.hashCode(queryHeads))
        + java.util.Arrays.hashCode(neurons);
  }

  @Override
  public String toString() {
    return "LayerPlan[source " + sourceLayer + ", " + kvHeads.length + " KV heads, " + queryHeads.length
        + " query heads, " + neurons.length + " neurons]";
  }
}
