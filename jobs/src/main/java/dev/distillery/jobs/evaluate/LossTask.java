package dev.distillery.jobs.evaluate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.distillery.jobs.spark.ExecutorModels;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskDevices;
import dev.distillery.model.LanguageModelLoss;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.TokenLoss;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.FlatMapFunction;

/**
 * One Spark task of EvaluateJob: the summed loss of its partition's sequences, in padded batches of rows of any
 * length. The model is loaded once per executor JVM and device and shared by the tasks there (inference only).
 */
final class LossTask implements FlatMapFunction<Iterator<long[]>, LossSum> {
  private final HadoopConf hadoop;
  private final String model;
  private final String fingerprint;
  private final int batchSize;
  private final int chunkTokens;

  LossTask(HadoopConf hadoop, String model, String fingerprint, int batchSize, int chunkTokens) {
    this.hadoop = hadoop;
    this.model = model;
    this.fingerprint = fingerprint;
    this.batchSize = batchSize;
    this.chunkTokens = chunkTokens;
  }

  @Override
  public Iterator<LossSum> call(Iterator<long[]> rows) {
    hadoop.install();
    LlamaModel llama = load();
    LossSum total = LossSum.ZERO;
    List<long[]> batch = new ArrayList<>();
    while (rows.hasNext()) {
      batch.add(rows.next());
      if (batch.size() == batchSize || !rows.hasNext()) {
        total = total.plus(loss(llama, batch));
        batch.clear();
      }
    }
    return List.of(total).iterator();
  }

  private LlamaModel load() {
    return ExecutorModels.get(model, fingerprint, TaskDevices.current(), DataType.FLOAT32);
  }

  /**
   * The summed loss of sequences of any length: right-padded to the longest, the padded positions' labels ignored
   * (causal attention keeps the padding out of every real token's output).
   */
  LossSum loss(LlamaModel llama, List<long[]> batch) {
    int length = batch.stream().mapToInt(r -> r.length).max().orElseThrow();
    long[] ids = new long[batch.size() * length];
    long[] labels = new long[ids.length];
    Arrays.fill(labels, LanguageModelLoss.IGNORE_INDEX);
    for (int i = 0; i < batch.size(); i++) {
      System.arraycopy(batch.get(i), 0, ids, i * length, batch.get(i).length);
      System.arraycopy(batch.get(i), 0, labels, i * length, batch.get(i).length);
    }
    try (NDManager manager = NDManager.newBaseManager(llama.device())) {
      NDArray hidden = llama.forwardHidden(manager.create(ids).reshape(batch.size(), length));
      TokenLoss loss = LanguageModelLoss.crossEntropyChunked(hidden, llama.lmHeadWeight(manager),
          manager.create(labels).reshape(batch.size(), length), LanguageModelLoss.IGNORE_INDEX, chunkTokens);
      double nats = loss.tokens() == 0 ? 0 : (double) loss.mean().getFloat() * loss.tokens();
      return new LossSum(nats, loss.tokens(), batch.size());
    }
  }
}
