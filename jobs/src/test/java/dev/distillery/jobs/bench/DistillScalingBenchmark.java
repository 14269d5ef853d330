package dev.distillery.jobs.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.CommandLine;
import dev.distillery.io.DType;
import dev.distillery.jobs.distill.DistillCommand;
import dev.distillery.jobs.spark.TokenShardFiles;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.RopeScaling;
import dev.distillery.testing.TestModels;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * DistillJob throughput with 1 and 2 ranks in local mode on the same global batch: the scaling of the barrier
 * stage with the TCP ring. Prints steady-state tokens/s (steps after the first two) per world size.
 * Usage: DistillScalingBenchmark WORKDIR STEPS
 */
public final class DistillScalingBenchmark {
  private DistillScalingBenchmark() {}

  public static void main(String[] args) throws Exception {
    try {
      measure(args);
    } finally {
      System.exit(0); // a local barrier stage leaves a non-daemon timer thread behind
    }
  }

  private static void measure(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    int steps = Integer.parseInt(args[1]);
    LlamaConfig config = new LlamaConfig(256, 704, 4, 8, 2, 32, 8192, 1e-5, 500000.0, RopeScaling.llama31(), 8192,
        false, 1, 2, "float32");
    Files.createDirectories(work);
    TestModels.writeCheckpoint(work.resolve("teacher"), config, TestModels.randomWeights(config, 1), DType.F32);
    TestModels.writeCheckpoint(work.resolve("student"), config, TestModels.randomWeights(config, 2), DType.F32);
    TokenShardFiles.write(work.resolve("tokens/train"), TestModels.randomTokens(64, 257, config.vocabSize(), 3));
    double[] rates = new double[2];
    int[] order = {1, 2, 2, 1}; // interleaved, so a change in machine load hits both world sizes alike
    for (int round = 0; round < order.length; round++) {
      int world = order[round];
      Path run = work.resolve("run-" + round);
      new DistillCommand().run(CommandLine.parse(new DistillCommand().schema(), new String[] {"--run", run.toString(),
          "--teacher", work.resolve("teacher").toString(), "--student", work.resolve("student").toString(),
          "--tokens", work.resolve("tokens").toString(), "--steps", Integer.toString(steps), "--global-batch", "8",
          "--micro-batch", "2", "--world-size", Integer.toString(world), "--validate-every", "1000",
          "--checkpoint-every", "1000"}), new PrintStream(new ByteArrayOutputStream()));
      List<String> lines = Files.readAllLines(run.resolve("metrics/distill.jsonl"));
      double sum = 0;
      for (String line : lines.subList(2, lines.size())) {
        sum += new ObjectMapper().readTree(line).get("tokens_per_s").asDouble();
      }
      double rate = sum / (lines.size() - 2);
      rates[world - 1] += rate / 2;
      System.out.printf("RESULT round %d, world %d: %.0f tokens/s%n", round + 1, world, rate);
    }
    System.out.printf("RESULT mean tokens/s: world 1 %.0f, world 2 %.0f; scaling 1 -> 2 ranks: %.2fx (%d cores)%n",
        rates[0], rates[1], rates[1] / rates[0],
        Runtime.getRuntime().availableProcessors());
  }
}
