package dev.distillery.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Who may join a ring: only peers that prove the job's secret, and no stray connection can stall it. */
class RingSecurityTest {
  private static final String SECRET_TEXT = "ring-secret-" + RingSecret.generate();
  private static final CollectiveOptions OPTIONS = CollectiveOptions.loopback()
      .withTimeouts(Duration.ofSeconds(10), Duration.ofSeconds(10)).withSessionId("stage 3 attempt 0")
      .withSecret(RingSecret.of(SECRET_TEXT));

  @Test
  void anIdleSocketAndAForgedHelloAreRefusedAndLoggedWhileTheRanksCarryOn() throws Exception {
    LocalRendezvous shared = new LocalRendezvous(2, Duration.ofSeconds(5));
    List<SocketChannel> idle = new ArrayList<>();
    AtomicReference<Handshake.Verdict> forgedHello = new AtomicReference<>();
    AtomicReference<Handshake.Verdict> forgedProof = new AtomicReference<>();
    Rendezvous rank0 = value -> {
      List<String> all = shared.forRank(0).allGather(value);
      try {
        // A port scanner's idle connection, held open until the ring has formed.
        idle.add(SocketChannel.open(PeerAddress.parse(all.get(1)).socketAddress()));
        // A forger who knows everything public (the addresses, the session id) but not the secret.
        try (SocketChannel forger = SocketChannel.open(PeerAddress.parse(all.get(1)).socketAddress())) {
          long session = Handshake.sessionHash(OPTIONS.sessionId(), all);
          ByteBuffer hello = Handshake.hello(session, 0, 2, RingSecret.nonce(Handshake.NONCE_BYTES));
          forger.write(hello.duplicate());
          ByteBuffer challenge = readFully(forger, Handshake.CHALLENGE_BYTES);
          forgedHello.set(Handshake.verdictOf(challenge));
          forger.write(Handshake.proof(RingSecret.of("a guess"), session, 2, hello, challenge));
          forgedProof.set(Handshake.verdictOf(readFully(forger, Handshake.ACK_BYTES)));
        }
      } catch (IOException e) {
        throw new AssertionError(e);
      }
      return all;
    };
    PrintStream err = System.err;
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    long start = System.nanoTime();
    List<Ranks.Outcome<Float>> outcomes;
    System.setErr(new PrintStream(log, true));
    try {
      outcomes = Ranks.outcomes(2, rank -> OPTIONS, rank -> rank == 0 ? rank0 : shared.forRank(1), ring -> {
        DirectFloats data = DirectFloats.of(ring.rank() + 1f);
        ring.allReduceSum(data);
        return data.get(0);
      });
    } finally {
      System.setErr(err);
      for (SocketChannel c : idle) {
        c.close();
      }
    }
    long millis = (System.nanoTime() - start) / 1_000_000;
    assertThat(outcomes).allSatisfy(o -> assertThat(o.value()).as(String.valueOf(o.error())).isEqualTo(3f));
    assertThat(forgedHello.get()).as("the hello carries only public data").isEqualTo(Handshake.Verdict.ACCEPTED);
    assertThat(forgedProof.get()).isEqualTo(Handshake.Verdict.NOT_AUTHENTICATED);
    assertThat(millis).as("the idle socket's handshake deadline did not hold the ring up")
        .isLessThan(RingConnector.HANDSHAKE_MILLIS);
    String text = log.toString();
    assertThat(text).contains("rank 1: rejected connection from", "failed authentication (no or a wrong ring secret)")
        .doesNotContain(SECRET_TEXT);
  }

  @Test
  void ranksWithAnotherSecretCannotFormARing() {
    LocalRendezvous rendezvous = new LocalRendezvous(2, Duration.ofSeconds(5));
    // Long timeouts: both ranks must fail on the secret, never by waiting a timeout out. Which rank judges its
    // peer's reply first is a race; the other may instead see that peer close the connection.
    CollectiveOptions patient = OPTIONS.withTimeouts(Duration.ofSeconds(30), Duration.ofSeconds(30));
    List<Ranks.Outcome<Object>> outcomes = Ranks.outcomes(2,
        rank -> rank == 0 ? patient : patient.withSecret(RingSecret.of("another job")), rendezvous::forRank,
        ring -> null);
    assertThat(outcomes).allSatisfy(o -> assertThat(o.error()).isInstanceOf(CollectiveException.class)
        .message().doesNotContain("timed out").doesNotContain(SECRET_TEXT));
    assertThat(outcomes).anySatisfy(o -> assertThat(o.error()).message()
        .containsPattern("rank \\d: handshake with right rank \\d").contains("failed authentication"));
    assertThat(patient.toString()).doesNotContain(SECRET_TEXT).contains("RingSecret(redacted)");
  }

  @Test
  void aRankAdvertisesAndListensOnTheHostItIsGiven() throws Exception {
    List<String> advertised = new ArrayList<>();
    LocalRendezvous shared = new LocalRendezvous(2, Duration.ofSeconds(5));
    InetAddress machine = nonLoopbackAddress();
    AtomicBoolean probed = new AtomicBoolean();
    List<Ranks.Outcome<Float>> outcomes = Ranks.outcomes(2, rank -> OPTIONS.withBindAddress(null).forHost("localhost"),
        rank -> value -> {
          synchronized (advertised) {
            advertised.add(value);
          }
          List<String> all = shared.forRank(rank).allGather(value);
          if (rank == 0 && machine != null) {
            // Not listening on every interface: this machine's network address does not reach the port.
            int port = PeerAddress.parse(all.get(1)).port();
            assertThatThrownBy(() -> SocketChannel.open(new InetSocketAddress(machine, port)).close())
                .isInstanceOf(IOException.class);
            probed.set(true);
          }
          return all;
        }, ring -> {
          DirectFloats data = DirectFloats.of(ring.rank() + 1f);
          ring.allReduceSum(data);
          return data.get(0);
        });
    assertThat(outcomes).allSatisfy(o -> assertThat(o.value()).as(String.valueOf(o.error())).isEqualTo(3f));
    assertThat(advertised).hasSize(2).allSatisfy(a -> assertThat(a).startsWith("localhost:"));
    assertThat(probed.get()).as("probed from " + machine).isEqualTo(machine != null);
  }

  /** An address of this machine's on a non-loopback interface, or null when it has none. */
  private static InetAddress nonLoopbackAddress() throws IOException {
    for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
      if (nic.isUp() && !nic.isLoopback()) {
        for (InetAddress a : Collections.list(nic.getInetAddresses())) {
          if (a instanceof Inet4Address) {
            return a;
          }
        }
      }
    }
    return null;
  }

  private static ByteBuffer readFully(SocketChannel channel, int bytes) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(bytes);
    while (b.hasRemaining() && channel.read(b) >= 0) {
      // until full or closed
    }
    return b.flip();
  }
}
