package dev.distillery.bench;

import dev.distillery.collective.CollectiveOptions;
import dev.distillery.collective.DirectFloats;
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
 * ceiling of the ring's bus bandwidth. The raw ring is measured twice: streaming from and into a small
 * buffer that stays in the CPU cache ("hot"), and streaming the same bytes from and into buffers as large as
 * the all-reduce's data ("memory"), which, like the all-reduce itself, cannot stay in the cache; on loopback
 * the memory traffic, not the wire, bounds both. Ratios are medians of each round's ratio. Usage: {@code
 * AllReduceBenchmark [ranks=2,4] [megabytes=64,256] [bucketMegabytes=16] [rounds=5]
 * [socketBufferKilobytes=0 (OS auto-tuning)]}; see {@code submit-scripts/bench-allreduce.sh}.
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
    System.out.printf("%5s %6s %10s %10s %10s %8s %11s %11s %9s %9s%n", "ranks", "MB", "pair GB/s",
        "hot ring", "mem ring", "time s", "algbw GB/s", "busbw GB/s", "bus/hot", "bus/mem");
    for (int n : worldSizes) {
      for (int mb : megabytes) {
        measure(n, (long) mb << 20, CollectiveOptions.loopback().withBucketBytes(bucketMegabytes << 20)
            .withSocketBufferBytes(socketBufferKilobytes << 10), repeats);
      }
    }
  }

  /**
   * Rounds of: one socket pair, then a raw ring of n pairs from a hot buffer and from memory, each link
   * streaming what one ring link carries in the all-reduce (2(n-1)/n of the buffer), then the all-reduce
   * itself on ranks that stay connected; one warm-up round first. Interleaving keeps the ratios fair on a
   * machine whose load drifts.
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
        DirectFloats data = DirectFloats.allocate((int) (bytes / Float.BYTES));
        for (int i = 0; i < data.length(); i++) {
          data.put(i, rank);
        }
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
    ByteBuffer[] memory = new ByteBuffer[2 * n];
    for (int i = 0; i < memory.length; i++) {
      memory[i] = ByteBuffer.allocateDirect((int) bytes);
    }
    double[] pair = new double[repeats];
    double[] hot = new double[repeats];
    double[] cold = new double[repeats];
    double[] seconds = new double[repeats];
    double[] hotRatio = new double[repeats];
    double[] coldRatio = new double[repeats];
    for (int i = -1; i < repeats; i++) {
      double pairGbps = linkBytes / streamRing(1, linkBytes, null) / 1e9;
      double hotGbps = linkBytes / streamRing(n, linkBytes, null) / 1e9;
      double coldGbps = linkBytes / streamRing(n, linkBytes, memory) / 1e9;
      round.await();
      long start = System.nanoTime();
      round.await();
      double t = (System.nanoTime() - start) / 1e9;
      if (i >= 0) {
        pair[i] = pairGbps;
        hot[i] = hotGbps;
        cold[i] = coldGbps;
        seconds[i] = t;
        hotRatio[i] = linkBytes / t / 1e9 / hotGbps;
        coldRatio[i] = linkBytes / t / 1e9 / coldGbps;
      }
    }
    for (Future<?> f : ranks) {
      f.get();
    }
    pool.shutdown();
    double t = median(seconds);
    double algbw = bytes / t / 1e9;
    System.out.printf("%5d %6d %10.2f %10.2f %10.2f %8.3f %11.2f %11.2f %9.2f %9.2f%n", n, bytes >> 20,
        median(pair), median(hot), median(cold), t, algbw, algbw * 2 * (n - 1) / n, median(hotRatio),
        median(coldRatio));
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int m = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
  }

  /**
   * Seconds for {@code n} links (a ring of n ranks; one pair when n is 1) to each carry {@code bytes} at the
   * same time, every rank sending to its right while receiving from its left: from and into one small
   * buffer per side when {@code memory} is null, else from rank r's {@code memory[2r]} into {@code
   * memory[2r + 1]}, wrapping around.
   */
  private static double streamRing(int n, long bytes, ByteBuffer[] memory) throws Exception {
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
        int receiver = (r + 1) % n; // the rank on the accepting side of out/in
        ByteBuffer from = memory == null ? ByteBuffer.allocateDirect(STREAM_BUFFER) : memory[2 * r];
        ByteBuffer into = memory == null ? ByteBuffer.allocateDirect(STREAM_BUFFER) : memory[2 * receiver + 1];
        tasks.add(() -> transfer(out, bytes, from, true));
        tasks.add(() -> transfer(in, bytes, into, false));
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

  /** Streams {@code bytes} through {@code buffer} in pieces of {@link #STREAM_BUFFER}, wrapping around it. */
  private static double transfer(SocketChannel channel, long bytes, ByteBuffer buffer, boolean write)
      throws IOException {
    int at = 0;
    for (long done = 0; done < bytes; ) {
      if (at == buffer.capacity()) {
        at = 0;
      }
      int n = (int) Math.min(Math.min(STREAM_BUFFER, bytes - done), buffer.capacity() - at);
      ByteBuffer piece = buffer.slice(at, n);
      while (piece.hasRemaining()) {
        if ((write ? channel.write(piece) : channel.read(piece)) < 0) {
          throw new IOException("closed early");
        }
      }
      at += n;
      done += n;
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
