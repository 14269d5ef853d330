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
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Throughput of {@link RingAllReduce} with all ranks in this JVM over loopback, against raw TCP measured in
 * the same run: one socket pair streaming, and N pairs streaming around a ring at once (no reduction), the
 * real ceiling of the ring's bus bandwidth; bus/ring is the median of each round's ratio. Usage: {@code
 * AllReduceBenchmark [ranks=2,4] [megabytes=64,256] [bucketMegabytes=16] [rounds=5]
 * [socketBufferKilobytes=0 (OS auto-tuning)]}; see {@code
 * submit-scripts/bench-allreduce.sh}.
 */
public final class AllReduceBenchmark {
  private static final int STREAM_BUFFER = 1 << 20;

  private AllReduceBenchmark() {}

  public static void main(String[] args) throws Exception {
    int[] worldSizes = ints(args, 0, "2,4");
    int[] megabytes = ints(args, 1, "64,256");
    int bucketMegabytes = ints(args, 2, "16")[0];
    int repeats = ints(args, 3, "5")[0];
    int socketBufferKilobytes = ints(args, 4, "0")[0];
    System.out.printf("cores %d, max heap %d MiB, bucket %d MiB, socket buffers %s, medians of %d rounds (each "
            + "round: one pair, raw ring, all-reduce)%n", Runtime.getRuntime().availableProcessors(),
        Runtime.getRuntime().maxMemory() >> 20, bucketMegabytes,
        socketBufferKilobytes == 0 ? "OS auto-tuned" : socketBufferKilobytes + " KiB", repeats);
    System.out.printf("%5s %7s %12s %12s %10s %12s %12s %8s%n", "ranks", "MB", "pair GB/s", "ring GB/s",
        "time s", "algbw GB/s", "busbw GB/s", "bus/ring");
    for (int n : worldSizes) {
      for (int mb : megabytes) {
        measure(n, (long) mb << 20, CollectiveOptions.loopback().withBucketBytes(bucketMegabytes << 20)
            .withSocketBufferBytes(socketBufferKilobytes << 10), repeats);
      }
    }
  }

  /**
   * Rounds of: one socket pair, then a raw ring of n pairs, each streaming what one ring link carries in
   * the all-reduce (2(n-1)/n of the buffer), then the all-reduce itself on ranks that stay connected; one
   * warm-up round first. Interleaving keeps the ratio fair on a machine whose load drifts.
   */
  private static void measure(int n, long bytes, CollectiveOptions options, int repeats) throws Exception {
    long linkBytes = bytes * 2 * (n - 1) / n;
    CyclicBarrier round = new CyclicBarrier(n + 1);
    LocalRendezvous rendezvous = new LocalRendezvous(n, Duration.ofMinutes(1));
    ExecutorService pool = Executors.newFixedThreadPool(n);
    List<Future<?>> ranks = new ArrayList<>();
    for (int r = 0; r < n; r++) {
      int rank = r;
      ranks.add(pool.submit(() -> {
        float[] data = new float[(int) (bytes / Float.BYTES)];
        Arrays.fill(data, rank);
        try (RingAllReduce ring = RingAllReduce.connect(rank, n, rendezvous.forRank(rank), options)) {
          for (int i = 0; i <= repeats; i++) {
            round.await();
            ring.allReduceSum(data);
            round.await();
          }
        }
        return null;
      }));
    }
    double[] pair = new double[repeats];
    double[] raw = new double[repeats];
    double[] seconds = new double[repeats];
    double[] ratio = new double[repeats];
    for (int i = -1; i < repeats; i++) {
      double pairGbps = linkBytes / streamRing(1, linkBytes) / 1e9;
      double ringGbps = linkBytes / streamRing(n, linkBytes) / 1e9;
      round.await();
      long start = System.nanoTime();
      round.await();
      double t = (System.nanoTime() - start) / 1e9;
      if (i >= 0) {
        pair[i] = pairGbps;
        raw[i] = ringGbps;
        seconds[i] = t;
        ratio[i] = linkBytes / t / 1e9 / ringGbps;
      }
    }
    for (Future<?> f : ranks) {
      f.get();
    }
    pool.shutdown();
    double t = median(seconds);
    double algbw = bytes / t / 1e9;
    System.out.printf("%5d %7d %12.2f %12.2f %10.3f %12.2f %12.2f %8.2f%n", n, bytes >> 20, median(pair),
        median(raw), t, algbw, algbw * 2 * (n - 1) / n, median(ratio));
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int m = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
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

  private static int[] ints(String[] args, int index, String defaults) {
    String text = args.length > index ? args[index] : defaults;
    return Arrays.stream(text.split(",")).mapToInt(Integer::parseInt).toArray();
  }
}
