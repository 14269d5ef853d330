package dev.distillery.evaluate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.distillery.model.LanguageModelLoss;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.TokenLoss;
import dev.distillery.spark.ExecutorModels;
import dev.distillery.spark.HadoopConf;
import dev.distillery.spark.TaskDevices;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.FlatMapFunction;

/**
 * One Spark task of EvaluateJob: the summed loss of its partition's sequences, in batches of equal-length rows. The
 * model is loaded once per executor JVM and device and shared by the tasks there (inference only).
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
      long[] row = rows.next();
      if (!batch.isEmpty() && (batch.size() == batchSize || batch.get(0).length != row.length)) {
        total = total.plus(loss(llama, batch));
        batch.clear();
      }
      batch.add(row);
    }
    if (!batch.isEmpty()) {
      total = total.plus(loss(llama, batch));
    }
    return List.of(total).iterator();
  }

  private LlamaModel load() {
    return ExecutorModels.get(model, fingerprint, TaskDevices.current(), DataType.FLOAT32);
  }

  /** The summed loss of equal-length sequences. */
  LossSum loss(LlamaModel llama, List<long[]> batch) {
    int length = batch.get(0).length;
    long[] flat = new long[batch.size() * length];
    for (int i = 0; i < batch.size(); i++) {
      System.arraycopy(batch.get(i), 0, flat, i * length, length);
    }
    try (NDManager manager = NDManager.newBaseManager(llama.device())) {
      NDArray ids = manager.create(flat).reshape(batch.size(), length);
      NDArray hidden = llama.forwardHidden(ids);
      TokenLoss loss = LanguageModelLoss.crossEntropyChunked(hidden, llama.lmHeadWeight(), ids,
          LanguageModelLoss.IGNORE_INDEX, chunkTokens);
      return new LossSum((double) loss.mean().getFloat() * loss.tokens(), loss.tokens(), batch.size());
    }
  }
}
