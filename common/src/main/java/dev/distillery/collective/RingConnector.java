package dev.distillery.collective;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forms the ring: listens on an ephemeral port, advertises it through the rendezvous, connects to the
 * right neighbour and accepts the left one, each connection checked by a {@link Handshake}. The two sides run
 * at once (no rank waits on another's accept), and every accepted connection is handshaken on a thread of its
 * own with a short deadline, so a stray or idle connection (a port scanner, a health check) delays nobody.
 */
final class RingConnector {
  private static final Logger LOG = LoggerFactory.getLogger(RingConnector.class);
  /** How long one accepted connection may take to complete its handshake. */
  static final long HANDSHAKE_MILLIS = 5_000;
  private static final long ACCEPT_POLL_MILLIS = 20;

  private final int rank;
  private final int worldSize;
  private final CollectiveOptions options;
  private final long deadline;

  private RingConnector(int rank, int worldSize, CollectiveOptions options) {
    this.rank = rank;
    this.worldSize = worldSize;
    this.options = options;
    this.deadline = System.nanoTime() + options.connectTimeout().toNanos();
  }

  static RingLinks connect(int rank, int worldSize, Rendezvous rendezvous, CollectiveOptions options) {
    return new RingConnector(rank, worldSize, options).connect(rendezvous);
  }

  private RingLinks connect(Rendezvous rendezvous) {
    ExecutorService handshakes = Executors.newCachedThreadPool(runnable -> {
      Thread t = new Thread(runnable, "ring-handshake-rank-" + rank);
      t.setDaemon(true);
      return t;
    });
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      if (options.socketBufferBytes() > 0) {
        server.setOption(StandardSocketOptions.SO_RCVBUF, options.socketBufferBytes());
      }
      server.bind(new InetSocketAddress(bindAddress(), 0));
      PeerAddress self = new PeerAddress(advertisedHost(), server.socket().getLocalPort());
      List<String> all = rendezvous.allGather(self.toString());
      if (all.size() != worldSize) {
        throw new CollectiveException("rank " + rank + ": rendezvous returned " + all.size()
            + " addresses for a world of " + worldSize + ": " + all);
      }
      long session = Handshake.sessionHash(options.sessionId(), all);
      int rightRank = (rank + 1) % worldSize;
      int leftRank = (rank + worldSize - 1) % worldSize;
      Future<SocketChannel> accepting = handshakes.submit(() -> acceptFrom(server, leftRank, session, handshakes));
      RingLinks.Peer rightPeer = new RingLinks.Peer(rightRank, PeerAddress.parse(all.get(rightRank)),
          connectTo(PeerAddress.parse(all.get(rightRank)), rightRank));
      try {
        handshakeWithRight(rightPeer, session);
        RingLinks.Peer leftPeer = new RingLinks.Peer(leftRank, PeerAddress.parse(all.get(leftRank)),
            await(accepting));
        RingLinks links = new RingLinks(rank, leftPeer, rightPeer, options.operationTimeout().toNanos());
        LOG.info("rank {} of {}: ring formed at {}; left {}, right {}", rank, worldSize, self, leftPeer, rightPeer);
        return links;
      } catch (RuntimeException e) {
        rightPeer.channel().close();
        throw e;
      } finally {
        accepting.cancel(true);
      }
    } catch (IOException e) {
      throw new CollectiveException("rank " + rank + ": could not form the ring: " + e, e);
    } finally {
      handshakes.shutdownNow();
    }
  }

  private SocketChannel await(Future<SocketChannel> accepting) {
    try {
      return accepting.get();
    } catch (ExecutionException e) {
      throw e.getCause() instanceof RuntimeException r ? r
          : new CollectiveException("rank " + rank + ": accepting the left rank failed: " + e.getCause(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CollectiveException("rank " + rank + ": interrupted while forming the ring", e);
    }
  }

  /** Hello, challenge check, proof, ack: the connecting side of the {@link Handshake}. */
  private void handshakeWithRight(RingLinks.Peer right, long session) {
    SocketChannel channel = right.channel();
    ByteBuffer hello = Handshake.hello(session, rank, worldSize, RingSecret.nonce(Handshake.NONCE_BYTES));
    transfer(channel, hello.duplicate(), true, deadline, "sending hello to right " + right);
    ByteBuffer challenge = ByteBuffer.allocate(Handshake.CHALLENGE_BYTES);
    transfer(channel, challenge, false, deadline, "waiting for the handshake reply of right " + right);
    challenge.flip();
    Handshake.Verdict theirs = Handshake.verdictOf(challenge);
    if (theirs != Handshake.Verdict.ACCEPTED) {
      throw rejectedBy(right, theirs);
    }
    Handshake.Verdict ours = Handshake.judgeChallenge(challenge, options.secret(), session, right.rank(), worldSize,
        hello);
    if (ours != Handshake.Verdict.ACCEPTED) {
      throw new CollectiveException("rank " + rank + ": handshake with right " + right + " failed: the peer there "
          + ours.description);
    }
    transfer(channel, Handshake.proof(options.secret(), session, worldSize, hello, challenge), true, deadline,
        "sending the handshake proof to right " + right);
    ByteBuffer ack = ByteBuffer.allocate(Handshake.ACK_BYTES);
    transfer(channel, ack, false, deadline, "waiting for the handshake ack of right " + right);
    theirs = Handshake.verdictOf(ack.flip());
    if (theirs != Handshake.Verdict.ACCEPTED) {
      throw rejectedBy(right, theirs);
    }
  }

  private CollectiveException rejectedBy(RingLinks.Peer right, Handshake.Verdict verdict) {
    return new CollectiveException("rank " + rank + ": handshake with right " + right + " failed: this rank "
        + verdict.description + " as seen from that end" + (options.sessionId().isEmpty() ? ""
            : " (session '" + options.sessionId() + "')"));
  }

  /**
   * Accepts connections until one completes the handshake as {@code leftRank}; each is handshaken on a thread of
   * its own, and the others are turned away (logged) or dropped when their deadline passes. Every connection
   * accepted but not returned is closed on the way out, so a peer whose handshake never started (this rank
   * failed first) sees the connection close at once rather than waiting out its timeout.
   */
  private SocketChannel acceptFrom(ServerSocketChannel server, int leftRank, long session, ExecutorService pool)
      throws IOException, InterruptedException {
    server.configureBlocking(false);
    CompletionService<SocketChannel> done = new ExecutorCompletionService<>(pool);
    List<Future<SocketChannel>> pending = new ArrayList<>();
    List<SocketChannel> accepted = new ArrayList<>();
    int rejected = 0;
    try (Selector selector = Selector.open()) {
      server.register(selector, SelectionKey.OP_ACCEPT);
      while (true) {
        if (Thread.currentThread().isInterrupted()) {
          throw new InterruptedException("rank " + rank + ": stopped accepting");
        }
        for (Future<SocketChannel> f = done.poll(); f != null; f = done.poll()) {
          pending.remove(f);
          SocketChannel left = completed(f);
          if (left != null) {
            accepted.remove(left);
            return left;
          }
          rejected++;
        }
        if (remainingMillis() <= 0) {
          throw new CollectiveException("rank " + rank + ": no valid connection from left rank " + leftRank
              + " within " + options.connectTimeout().toMillis() + " ms (" + rejected + " peers rejected)");
        }
        SocketChannel candidate = server.accept();
        if (candidate != null) {
          accepted.add(candidate);
          pending.add(done.submit(() -> handshakeWithLeft(candidate, leftRank, session)));
        } else {
          selector.select(Math.max(1, Math.min(ACCEPT_POLL_MILLIS, remainingMillis())));
          selector.selectedKeys().clear();
        }
      }
    } finally {
      pending.forEach(f -> f.cancel(true));
      for (SocketChannel c : accepted) {
        c.close();
      }
    }
  }

  private static SocketChannel completed(Future<SocketChannel> f) throws InterruptedException {
    try {
      return f.get();
    } catch (ExecutionException e) {
      return null; // handshakeWithLeft logs and returns null; nothing else is thrown
    }
  }

  /** The accepting side of the {@link Handshake} on one connection: the channel, or null when turned away. */
  private SocketChannel handshakeWithLeft(SocketChannel candidate, int leftRank, long session) throws IOException {
    String from = String.valueOf(candidate.getRemoteAddress());
    long own = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(HANDSHAKE_MILLIS);
    long by = Math.min(deadline, own);
    try {
      candidate.configureBlocking(false);
      configure(candidate);
      ByteBuffer hello = ByteBuffer.allocate(Handshake.HELLO_BYTES);
      transfer(candidate, hello, false, by, "reading hello from " + from);
      hello.flip();
      Handshake.Verdict verdict = Handshake.judgeHello(hello, session, leftRank, worldSize);
      ByteBuffer challenge = Handshake.challenge(verdict, options.secret(), session, rank, worldSize, hello,
          RingSecret.nonce(Handshake.NONCE_BYTES));
      transfer(candidate, challenge.duplicate(), true, by, "answering " + from);
      if (verdict == Handshake.Verdict.ACCEPTED) {
        ByteBuffer proof = ByteBuffer.allocate(Handshake.PROOF_BYTES);
        transfer(candidate, proof, false, by, "reading the handshake proof of " + from);
        verdict = Handshake.judgeProof(proof.flip(), options.secret(), session, worldSize, hello, challenge);
        transfer(candidate, Handshake.ack(verdict), true, by, "answering " + from);
        if (verdict == Handshake.Verdict.ACCEPTED) {
          return candidate;
        }
      }
      LOG.warn("rank {}: rejected connection from {}: it {}", rank, from, verdict.description);
    } catch (CollectiveException e) {
      LOG.warn("rank {}: dropped connection from {}: {}", rank, from, e.getMessage());
    }
    candidate.close();
    return null;
  }

  private InetAddress bindAddress() throws IOException {
    return options.bindAddress() == null ? null : InetAddress.getByName(options.bindAddress());
  }

  private String advertisedHost() throws IOException {
    if (options.advertisedHost() != null) {
      return options.advertisedHost();
    }
    InetAddress bind = bindAddress();
    return bind == null || bind.isAnyLocalAddress() ? AdvertisedAddress.ofThisMachine() : bind.getHostAddress();
  }

  private SocketChannel connectTo(PeerAddress address, int peerRank) throws IOException {
    SocketChannel channel = SocketChannel.open();
    try {
      configure(channel);
      channel.socket().connect(address.socketAddress(), (int) Math.max(1, remainingMillis()));
      channel.configureBlocking(false);
      return channel;
    } catch (SocketTimeoutException e) {
      channel.close();
      throw new CollectiveException("rank " + rank + ": connect to right rank " + peerRank + " (" + address
          + ") timed out after " + options.connectTimeout().toMillis() + " ms", e);
    } catch (IOException e) {
      channel.close();
      throw new CollectiveException("rank " + rank + ": cannot connect to right rank " + peerRank + " ("
          + address + "): " + e.getMessage(), e);
    }
  }

  private void configure(SocketChannel channel) throws IOException {
    channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
    channel.setOption(StandardSocketOptions.SO_KEEPALIVE, true);
    if (options.socketBufferBytes() > 0) {
      channel.setOption(StandardSocketOptions.SO_SNDBUF, options.socketBufferBytes());
      channel.setOption(StandardSocketOptions.SO_RCVBUF, options.socketBufferBytes());
    }
  }

  /** Sends or receives all of {@code buffer} on a non-blocking channel before {@code by} (a nanoTime). */
  private void transfer(SocketChannel channel, ByteBuffer buffer, boolean write, long by, String what) {
    try {
      while (buffer.hasRemaining()) {
        int n = write ? channel.write(buffer) : channel.read(buffer);
        if (n < 0) {
          throw new CollectiveException("rank " + rank + ": connection closed while " + what);
        }
        if (n == 0) {
          if (Thread.currentThread().isInterrupted()) {
            throw new CollectiveException("rank " + rank + ": interrupted " + what);
          }
          long left = TimeUnit.NANOSECONDS.toMillis(by - System.nanoTime());
          if (left <= 0) {
            throw new CollectiveException("rank " + rank + ": timed out " + what + (by == deadline
                ? " (connect timeout " + options.connectTimeout().toMillis() + " ms)" : ""));
          }
          await(channel, write ? SelectionKey.OP_WRITE : SelectionKey.OP_READ, left);
        }
      }
    } catch (IOException e) {
      throw new CollectiveException("rank " + rank + ": I/O error " + what + ": " + e.getMessage(), e);
    }
  }

  private static void await(SelectableChannel channel, int ops, long millis) throws IOException {
    try (Selector selector = Selector.open()) {
      channel.register(selector, ops);
      selector.select(Math.max(1, millis));
    }
  }

  private long remainingMillis() {
    return TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
  }
}
