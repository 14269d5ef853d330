package dev.distillery.bench;

import ai.djl.Device;
import dev.distillery.distill.AdamW;
import dev.distillery.distill.OptimizerShard;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.ShardOnlyReducer;
import dev.distillery.testing.TestModels;
import java.io.IOException;

/**
 * The AdamW state one replica holds, replicated and sharded over N replicas, for a generated student: prints
 * "RESULT replicas=N" with replica 0's moments as allocated by libtorch, the process's resident set growth when
 * they are allocated (one N per JVM, so freed memory is not reused), and the ratio to the replicated state.
 * Usage: OptimizerShardBenchmark HIDDEN LAYERS VOCAB N
 */
public final class OptimizerShardBenchmark {
  private OptimizerShardBenchmark() {}

  public static void main(String[] args) throws IOException {
    int hidden = Integer.parseInt(args[0]);
    int layers = Integer.parseInt(args[1]);
    int vocab = Integer.parseInt(args[2]);
    int replicas = Integer.parseInt(args[3]);
    LlamaConfig config = new LlamaConfig(hidden, hidden * 11 / 4, layers, hidden / 64, hidden / 256, 64, vocab, 1e-5,
        500000.0, null, 2048, false, 1, 2, "float32");
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, 0.01);
    try (LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)),
        Device.cpu())) {
      long parameters = student.parameters().values().stream().mapToLong(p -> p.size()).sum();
      System.gc();
      long before = RecomputationBenchmark.statusKb("VmRSS");
      try (AdamW adam = replicas == 1 ? new AdamW(student.parameters(), settings)
          : new AdamW(OptimizerShard.of(student.parameters(), new ShardOnlyReducer(0, replicas)), Device.cpu(),
              settings)) {
        long grown = RecomputationBenchmark.statusKb("VmRSS") - before;
        System.out.printf("RESULT replicas=%d: optimizer state of replica 0 %.1f MB allocated (RSS +%.1f MiB), "
                + "%.2f bytes/parameter, %.3f of the replicated 8 (%d parameters)%n", replicas,
            adam.stateBytes() / 1e6, grown / 1024.0, (double) adam.stateBytes() / parameters,
            adam.stateBytes() / (8.0 * parameters), parameters);
      }
    }
  }
}
