package dev.distillery.bench;

import dev.distillery.io.CheckpointReader;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaConfig;
import dev.distillery.prune.CheckpointPruner;
import dev.distillery.prune.LayerPlan;
import dev.distillery.prune.PrunePlan;
import dev.distillery.prune.StudentCheckpoint;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Scale check of pruning: prunes a Llama-3.1-8B-shaped checkpoint to the Minitron-4B-Width shapes (hidden 3072,
 * FFN 9216, all heads and layers; kept indices drawn with a fixed seed, neurons per layer) and compares the wall
 * time with a plain {@link Files#copy} of the teacher's files, in ABBA order (copy, prune, prune, copy, ...) so
 * that page-cache warmth and write-back favour neither. Every timed step ends with {@code sync}, so each pays for
 * its own writes; outputs are deleted and synced away between steps. Prints times, the ratio and peak RSS.
 * Usage: {@code PruneBenchmark <teacher-dir> <work-dir> [rounds]}; see {@code submit-scripts/bench-prune.sh}.
 */
public final class PruneBenchmark {
  private PruneBenchmark() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: PruneBenchmark <teacher-dir> <work-dir> [rounds]");
      System.exit(2);
    }
    Path teacher = Path.of(args[0]);
    Path work = Path.of(args[1]);
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 1;
    Files.createDirectories(work);
    PrunePlan plan;
    try (CheckpointReader reader = CheckpointReader.open(teacher.toString())) {
      plan = minitronWidth(reader.config(), 1234);
    }
    System.out.println("plan: " + plan);
    List<Double> copies = new ArrayList<>();
    List<Double> prunes = new ArrayList<>();
    for (int round = 0; round < rounds; round++) {
      boolean copyFirst = round % 2 == 0;
      for (int step = 0; step < 2; step++) {
        if ((step == 0) == copyFirst) {
          copies.add(timed("copy", work.resolve("copy"), () -> copy(teacher, work.resolve("copy"))));
        } else {
          prunes.add(timed("prune", work.resolve("student"), () -> prune(teacher, plan, work.resolve("student"))));
        }
      }
    }
    double copy = copies.stream().mapToDouble(d -> d).average().orElseThrow();
    double prune = prunes.stream().mapToDouble(d -> d).average().orElseThrow();
    System.out.printf("copy  %s s (mean %.1f)%nprune %s s (mean %.1f)%nprune/copy = %.2f; peak RSS (VmHWM) %s; "
        + "max heap %d MiB%n", copies, copy, prunes, prune, prune / copy, peakRss(),
        Runtime.getRuntime().maxMemory() >> 20);
  }

  /** Minitron-4B-Width shapes: hidden 4096 -> 3072, FFN 14336 -> 9216, every head and layer kept. */
  static PrunePlan minitronWidth(LlamaConfig teacher, long seed) {
    Random random = new Random(seed);
    LlamaConfig target = teacher.withShape(3072, 9216, teacher.numHiddenLayers(), teacher.numAttentionHeads(),
        teacher.numKeyValueHeads(), teacher.headDim());
    List<LayerPlan> layers = new ArrayList<>();
    for (int i = 0; i < teacher.numHiddenLayers(); i++) {
      layers.add(new LayerPlan(i, PrunePlan.range(teacher.numKeyValueHeads()),
          PrunePlan.range(teacher.numAttentionHeads()), choose(teacher.intermediateSize(), 9216, random)));
    }
    return new PrunePlan(teacher, target, choose(teacher.hiddenSize(), 3072, random), layers);
  }

  private static int[] choose(int n, int k, Random random) {
    int[] all = PrunePlan.range(n);
    for (int i = 0; i < k; i++) {
      int j = i + random.nextInt(n - i);
      int t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    int[] kept = Arrays.copyOf(all, k);
    Arrays.sort(kept);
    return kept;
  }

  private static void copy(Path teacher, Path target) throws IOException {
    Files.createDirectories(target);
    try (Stream<Path> files = Files.list(teacher)) {
      for (Path file : files.toList()) {
        Files.copy(file, target.resolve(file.getFileName()));
      }
    }
  }

  private static void prune(Path teacher, PrunePlan plan, Path target) {
    String out = target.toString();
    new CheckpointPruner(plan).prune(Storage.of(teacher.toString()), teacher.toString(),
        new StudentCheckpoint(Storage.of(out), out, null, CheckpointWriter.DEFAULT_MAX_SHARD_BYTES, false));
  }

  private interface Step {
    void run() throws Exception;
  }

  /** Seconds {@code step} takes including {@code sync}; then deletes {@code output} and syncs, untimed. */
  private static double timed(String name, Path output, Step step) throws Exception {
    long start = System.nanoTime();
    long cpuStart = cpuNanos();
    step.run();
    double cpu = (cpuNanos() - cpuStart) / 1e9;
    double returned = (System.nanoTime() - start) / 1e9;
    sync();
    double seconds = (System.nanoTime() - start) / 1e9;
    long bytes;
    try (Stream<Path> files = Files.list(output)) {
      bytes = files.mapToLong(p -> p.toFile().length()).sum();
    }
    System.out.printf("%-5s %.1f s (%.1f s before sync; JVM CPU %.1f s), %.2f GB written, %.2f GB/s%n", name,
        seconds, returned, cpu, bytes / 1e9, bytes / seconds / 1e9);
    Storage.of(output.toString()).delete(output.toString());
    sync();
    return Math.round(seconds * 10) / 10.0;
  }

  /** CPU time of this JVM (all threads); a copy's kernel time is included, the kernel's write-back is not. */
  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static void sync() throws IOException, InterruptedException {
    new ProcessBuilder("sync").inheritIO().start().waitFor();
  }

  private static String peakRss() throws IOException {
    return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmHWM:"))
        .map(l -> l.substring(6).trim()).findFirst().orElse("n/a");
  }
}
