package dev.distillery.bench;

import dev.distillery.collective.CollectiveOptions;
import dev.distillery.collective.LocalRendezvous;
import dev.distillery.collective.RingAllReduce;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Throughput of {@link RingAllReduce} with all ranks in this JVM over loopback, against raw TCP measured in
 * the same run: one socket pair streaming, and N pairs streaming around a ring at once (no reduction), the
 * real ceiling of the ring's bus bandwidth. Usage: {@code AllReduceBenchmark [ranks=2,4] [megabytes=64,256]
 * [bucketMegabytes=16] [repeats=3]}; see {@code submit-scripts/bench-allreduce.sh}.
 */
public final class AllReduceBenchmark {
  private static final int STREAM_BUFFER = 1 << 20;

  private AllReduceBenchmark() {}

  public static void main(String[] args) throws Exception {
    int[] worldSizes = ints(args, 0, "2,4");
    int[] megabytes = ints(args, 1, "64,256");
    int bucketMegabytes = ints(args, 2, "16")[0];
    int repeats = ints(args, 3, "3")[0];
    System.out.printf("cores %d, max heap %d MiB, bucket %d MiB, best of %d%n",
        Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20, bucketMegabytes,
        repeats);
    System.out.printf("%5s %7s %12s %12s %12s %12s %12s %8s%n", "ranks", "MB", "pair GB/s", "ring GB/s",
        "time s", "algbw GB/s", "busbw GB/s", "bus/ring");
    for (int n : worldSizes) {
      for (int mb : megabytes) {
        long bytes = (long) mb << 20;
        long linkBytes = bytes * 2 * (n - 1) / n;
        double pair = best(repeats, () -> linkBytes / streamRing(1, linkBytes) / 1e9);
        double ring = best(repeats, () -> linkBytes / streamRing(n, linkBytes) / 1e9);
        double seconds = allReduceSeconds(n, (int) (bytes / Float.BYTES), bucketMegabytes << 20, repeats);
        double algbw = bytes / seconds / 1e9;
        double busbw = algbw * 2 * (n - 1) / n;
        System.out.printf("%5d %7d %12.2f %12.2f %12.3f %12.2f %12.2f %8.2f%n", n, mb, pair, ring, seconds, algbw,
            busbw, busbw / ring);
      }
    }
  }

  /** Best time of the all-reduce of {@code floats} floats on {@code n} ranks, after one warm-up call. */
  private static double allReduceSeconds(int n, int floats, int bucketBytes, int repeats) throws Exception {
    LocalRendezvous rendezvous = new LocalRendezvous(n, Duration.ofMinutes(1));
    CollectiveOptions options = CollectiveOptions.loopback().withBucketBytes(bucketBytes);
    List<Callable<Double>> ranks = new ArrayList<>();
    for (int r = 0; r < n; r++) {
      int rank = r;
      ranks.add(() -> {
        float[] data = new float[floats];
        Arrays.fill(data, rank);
        try (RingAllReduce ring = RingAllReduce.connect(rank, n, rendezvous.forRank(rank), options)) {
          double best = Double.MAX_VALUE;
          for (int i = 0; i <= repeats; i++) {
            ring.barrier();
            long start = System.nanoTime();
            ring.allReduceSum(data);
            ring.barrier();
            double seconds = (System.nanoTime() - start) / 1e9;
            best = i == 0 ? best : Math.min(best, seconds);
          }
          return best;
        }
      });
    }
    return runAll(ranks).stream().mapToDouble(Double::doubleValue).max().orElseThrow();
  }

  /**
   * Seconds for {@code n} links (a ring of n ranks; one pair when n is 1) to each carry {@code bytes} at the
   * same time, every rank sending to its right while receiving from its left.
   */
  private static double streamRing(int n, long bytes) throws Exception {
    List<ServerSocketChannel> servers = new ArrayList<>();
    List<SocketChannel> outs = new ArrayList<>();
    List<SocketChannel> ins = new ArrayList<>();
    try {
      for (int r = 0; r < n; r++) {
        ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        servers.add(server);
      }
      for (int r = 0; r < n; r++) {
        outs.add(configure(SocketChannel.open(servers.get((r + 1) % n).getLocalAddress())));
        ins.add(configure(servers.get((r + 1) % n).accept()));
      }
      List<Callable<Double>> tasks = new ArrayList<>();
      for (int r = 0; r < n; r++) {
        SocketChannel out = outs.get(r);
        SocketChannel in = ins.get(r);
        tasks.add(() -> transfer(out, bytes, true));
        tasks.add(() -> transfer(in, bytes, false));
      }
      long start = System.nanoTime();
      runAll(tasks);
      return (System.nanoTime() - start) / 1e9;
    } finally {
      for (var c : outs) {
        c.close();
      }
      for (var c : ins) {
        c.close();
      }
      for (var c : servers) {
        c.close();
      }
    }
  }

  private static SocketChannel configure(SocketChannel channel) throws IOException {
    channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
    return channel;
  }

  private static double transfer(SocketChannel channel, long bytes, boolean write) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocateDirect(STREAM_BUFFER);
    for (long done = 0; done < bytes; ) {
      buffer.clear().limit((int) Math.min(STREAM_BUFFER, bytes - done));
      while (buffer.hasRemaining()) {
        int n = write ? channel.write(buffer) : channel.read(buffer);
        if (n < 0) {
          throw new IOException("closed early");
        }
      }
      done += buffer.limit();
    }
    return 0.0;
  }

  private static <T> List<T> runAll(List<Callable<T>> tasks) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
    try {
      List<T> results = new ArrayList<>();
      for (Future<T> f : pool.invokeAll(tasks)) {
        results.add(f.get());
      }
      return results;
    } finally {
      pool.shutdownNow();
    }
  }

  private interface Measurement {
    double run() throws Exception;
  }

  private static double best(int repeats, Measurement m) throws Exception {
    double best = 0;
    for (int i = 0; i < repeats; i++) {
      best = Math.max(best, m.run());
    }
    return best;
  }

  private static int[] ints(String[] args, int index, String defaults) {
    String text = args.length > index ? args[index] : defaults;
    return Arrays.stream(text.split(",")).mapToInt(Integer::parseInt).toArray();
  }
}
