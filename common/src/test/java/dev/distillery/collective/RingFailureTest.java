package dev.distillery.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class RingFailureTest {
  private static final CollectiveOptions FAST_FAIL = CollectiveOptions.loopback()
      .withTimeouts(Duration.ofSeconds(3), Duration.ofSeconds(1));

  /** What a surviving rank saw: how long its operation took and what it threw. */
  record Failure(long millis, Throwable error) {}

  private static Failure timed(Runnable operation) {
    long start = System.nanoTime();
    try {
      operation.run();
      return new Failure((System.nanoTime() - start) / 1_000_000, null);
    } catch (RuntimeException e) {
      return new Failure((System.nanoTime() - start) / 1_000_000, e);
    }
  }

  @Test
  void silentPeerFailsTheOthersWithinTheTimeout() {
    List<Failure> failures = Ranks.run(3, FAST_FAIL, ring -> {
      if (ring.rank() == 2) {
        Thread.sleep(4000); // alive but never joins the operation
        return null;
      }
      return timed(() -> ring.allReduceSum(DirectFloats.allocate(1000)));
    });
    for (Failure f : failures.subList(0, 2)) {
      assertThat(f.error()).isInstanceOf(CollectiveException.class);
      assertThat(f.millis()).isBetween(900L, 3000L);
    }
    assertThat(failures.get(0).error()).hasMessageContaining("rank 0: no progress for 1000 ms in all-reduce (bucket")
        .hasMessageContaining("from left rank 2 (127.0.0.1:");
  }

  /**
   * A rank busy for 2.5 s (e.g. writing a checkpoint) beyond the 1 s operation timeout: peers waiting in a barrier
   * with a longer timeout of its own get through and the ring stays usable; a plain barrier fails.
   */
  @Test
  void aBarrierWithItsOwnTimeoutOutwaitsABusyPeer() {
    List<Failure> patient = Ranks.run(3, FAST_FAIL, ring -> {
      if (ring.rank() == 0) {
        Thread.sleep(2500);
      }
      Failure f = timed(() -> ring.barrier(Duration.ofSeconds(30)));
      ring.barrier();
      return f;
    });
    for (Failure f : patient.subList(1, 3)) {
      assertThat(f.error()).isNull();
      assertThat(f.millis()).isGreaterThan(2000L);
    }
    List<Failure> plain = Ranks.run(2, FAST_FAIL, ring -> {
      if (ring.rank() == 0) {
        Thread.sleep(2500);
      }
      return timed(ring::barrier);
    });
    assertThat(plain.get(1).error()).isInstanceOf(CollectiveException.class)
        .hasMessageContaining("no progress for 1000 ms in all-gather of a long");
  }

  @Test
  void peerClosingMidOperationFailsEveryRankPromptly() {
    CollectiveOptions patient = FAST_FAIL.withTimeouts(Duration.ofSeconds(3), Duration.ofSeconds(20))
        .withBucketBytes(1 << 20);
    List<Failure> failures = Ranks.run(4, patient, ring -> {
      DirectFloats data = DirectFloats.allocate(8 << 20);
      if (ring.rank() == 3) {
        CompletableFuture<Void> running = ring.allReduceSumAsync(data);
        Thread.sleep(20);
        ring.close();
        return timed(running::join);
      }
      Failure f = timed(() -> ring.allReduceSum(data));
      assertThatThrownBy(() -> ring.allReduceSum(DirectFloats.allocate(4))).hasMessageContaining("the ring failed earlier");
      return f;
    });
    for (Failure f : failures) {
      assertThat(f.error()).isNotNull();
      assertThat(f.millis()).isLessThan(10_000L);
    }
    assertThat(failures.subList(0, 3)).allSatisfy(f -> assertThat(f.error()).isInstanceOf(CollectiveException.class));
  }

  @Test
  void ranksOfDifferentSessionsRejectEachOther() {
    LocalRendezvous rendezvous = new LocalRendezvous(2, Duration.ofSeconds(5));
    List<Ranks.Outcome<Object>> outcomes = Ranks.outcomes(2,
        rank -> FAST_FAIL.withSessionId("job-7-attempt-" + rank), rendezvous::forRank, ring -> null);
    // Each rank's hello is turned away by its right neighbour. The rank whose verdict arrives first fails with it
    // and closes its sockets, so the other rank may see that close (a reset) before its own verdict arrives: the
    // first failure, the one Spark reports, always names the cause.
    for (int rank = 0; rank < 2; rank++) {
      assertThat(outcomes.get(rank).error()).isInstanceOf(CollectiveException.class)
          .hasMessageContaining("rank " + rank + ": ")
          .hasMessageContaining("right rank " + (1 - rank) + " (127.0.0.1:");
    }
    assertThat(outcomes).map(o -> o.error().getMessage())
        .anySatisfy(message -> assertThat(message).contains("handshake with right rank").contains("another session"));
  }

  @Test
  void staleConnectionIsTurnedAwayAndTheRingStillForms() {
    LocalRendezvous shared = new LocalRendezvous(2, Duration.ofSeconds(5));
    AtomicReference<Handshake.Verdict> staleVerdict = new AtomicReference<>();
    Rendezvous rank0 = value -> {
      List<String> all = shared.forRank(0).allGather(value);
      // Before rank 0 connects, a leftover of an earlier attempt knocks on rank 1's port.
      try (SocketChannel stale = SocketChannel.open(PeerAddress.parse(all.get(1)).socketAddress())) {
        stale.write(Handshake.hello(12345, 0, 2, new byte[Handshake.NONCE_BYTES]));
        ByteBuffer reply = ByteBuffer.allocate(Handshake.CHALLENGE_BYTES);
        while (reply.hasRemaining() && stale.read(reply) >= 0) {
          // read the whole reply
        }
        staleVerdict.set(Handshake.verdictOf(reply.flip()));
      } catch (java.io.IOException e) {
        throw new AssertionError(e);
      }
      return all;
    };
    List<Ranks.Outcome<Float>> outcomes = Ranks.outcomes(2, rank -> FAST_FAIL,
        rank -> rank == 0 ? rank0 : shared.forRank(1), ring -> {
          DirectFloats data = DirectFloats.of(ring.rank() + 1f);
          ring.allReduceSum(data);
          return data.get(0);
        });
    assertThat(staleVerdict.get()).isEqualTo(Handshake.Verdict.OTHER_SESSION);
    assertThat(outcomes).allSatisfy(o -> assertThat(o.value()).isEqualTo(3f));
  }

  @Test
  void unresponsiveNeighbourFailsTheConnectWithinTheTimeout() throws Exception {
    try (ServerSocketChannel neverAnswers = ServerSocketChannel.open()) {
      neverAnswers.bind(new InetSocketAddress("127.0.0.1", 0));
      String address = "127.0.0.1:" + neverAnswers.socket().getLocalPort();
      CollectiveOptions options = FAST_FAIL.withTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(1));
      long start = System.nanoTime();
      assertThatThrownBy(() -> RingAllReduce.connect(0, 2, mine -> List.of(mine, address), options))
          .isInstanceOf(CollectiveException.class)
          .hasMessageContaining("rank 0: timed out waiting for the handshake reply of right rank 1 (" + address + ")");
      assertThat((System.nanoTime() - start) / 1_000_000).isBetween(900L, 3000L);
    }
  }

  @Test
  void unreachableNeighbourIsNamed() throws Exception {
    String address;
    try (ServerSocketChannel closed = ServerSocketChannel.open()) {
      closed.bind(new InetSocketAddress("127.0.0.1", 0));
      address = "127.0.0.1:" + closed.socket().getLocalPort();
    }
    assertThatThrownBy(() -> RingAllReduce.connect(0, 2, mine -> List.of(mine, address), FAST_FAIL))
        .isInstanceOf(CollectiveException.class)
        .hasMessageContaining("rank 0: cannot connect to right rank 1 (" + address + ")");
  }
}
