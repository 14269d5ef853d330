package dev.distillery.prune;

import dev.distillery.model.LlamaConfig;

/** Parameter and compute sizes of a Llama config, for plans and reports. */
public final class ModelCost {
  private ModelCost() {}

  /**
   * Forward FLOPs per token at {@code contextLength}: 2 per multiply-add of every projection including
   * {@code lm_head}, plus attention's {@code QKᵀ} and {@code A·V} over the mean causal span ({@code context / 2} keys):
   * {@code 2·layers·context·heads·head_dim}. Norms, RoPE, softmax and activations are left out.
   */
  public static long flopsPerToken(LlamaConfig c, int contextLength) {
    long h = c.hiddenSize();
    long perLayer = h * c.qDim() + 2L * h * c.kvDim() + (long) c.qDim() * h + 3L * h * c.intermediateSize();
    long projections = perLayer * c.numHiddenLayers() + (long) c.vocabSize() * h;
    long attention = (long) c.numHiddenLayers() * contextLength * c.qDim();
    return 2 * projections + 2 * attention;
  }

  /** A Markdown table comparing teacher and student: shapes, parameters, FLOPs per token. */
  public static String sizeTable(LlamaConfig teacher, LlamaConfig student, int contextLength) {
    StringBuilder sb = new StringBuilder();
    sb.append("| | teacher | student | student / teacher |\n|---|---:|---:|---:|\n");
    row(sb, "layers", teacher.numHiddenLayers(), student.numHiddenLayers());
    row(sb, "hidden size", teacher.hiddenSize(), student.hiddenSize());
    row(sb, "FFN size", teacher.intermediateSize(), student.intermediateSize());
    row(sb, "query heads", teacher.numAttentionHeads(), student.numAttentionHeads());
    row(sb, "KV heads", teacher.numKeyValueHeads(), student.numKeyValueHeads());
    row(sb, "head dim", teacher.headDim(), student.headDim());
    row(sb, "parameters", teacher.parameterCount(), student.parameterCount());
    row(sb, "GFLOPs / token @" + contextLength, flopsPerToken(teacher, contextLength) / 1e9,
        flopsPerToken(student, contextLength) / 1e9);
    return sb.toString();
  }

  private static void row(StringBuilder sb, String name, double teacher, double student) {
    String format = teacher == Math.rint(teacher) && teacher < 1e15 ? "%,.0f" : "%,.2f";
    sb.append("| ").append(name).append(" | ").append(String.format(format, teacher)).append(" | ")
        .append(String.format(format, student)).append(" | ").append(String.format("%.3f", student / teacher))
        .append(" |\n");
  }
}
