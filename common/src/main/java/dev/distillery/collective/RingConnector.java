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
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forms the ring: listens on an ephemeral port, advertises it through the rendezvous, connects to the
 * right neighbour and accepts the left one, each connection checked by a {@link Handshake}. Hellos are
 * sent before accepting and replies read last, so no rank waits on another's accept.
 */
final class RingConnector {
  private static final Logger LOG = LoggerFactory.getLogger(RingConnector.class);

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
      PeerAddress rightAddress = PeerAddress.parse(all.get(rightRank));
      SocketChannel right = connectTo(rightAddress, rightRank);
      try {
        transfer(right, Handshake.hello(session, rank, worldSize), true, "sending hello to right rank "
            + rightRank + " (" + rightAddress + ")");
        RingLinks.Peer rightPeer = new RingLinks.Peer(rightRank, rightAddress, right);
        ByteBuffer reply = ByteBuffer.allocate(Handshake.BYTES);
        SocketChannel left = acceptFrom(server, leftRank, session, rightPeer, reply);
        RingLinks.Peer leftPeer = new RingLinks.Peer(leftRank, PeerAddress.parse(all.get(leftRank)), left);
        try {
          transfer(right, reply, false, "waiting for the handshake reply of right " + rightPeer);
          checkReply(rightPeer, reply, session);
          RingLinks links = new RingLinks(rank, leftPeer, rightPeer, options.operationTimeout().toNanos());
          LOG.info("rank {} of {}: ring formed at {}; left {}, right {}", rank, worldSize, self, leftPeer, rightPeer);
          return links;
        } catch (RuntimeException | IOException e) {
          left.close();
          throw e;
        }
      } catch (RuntimeException | IOException e) {
        right.close();
        throw e;
      }
    } catch (IOException e) {
      throw new CollectiveException("rank " + rank + ": could not form the ring: " + e, e);
    }
  }

  private InetAddress bindAddress() throws IOException {
    return options.bindAddress() == null ? null : InetAddress.getByName(options.bindAddress());
  }

  private String advertisedHost() throws IOException {
    if (options.advertisedHost() != null) {
      return options.advertisedHost();
    }
    InetAddress bind = bindAddress();
    return bind == null || bind.isAnyLocalAddress()
        ? InetAddress.getLocalHost().getHostAddress() : bind.getHostAddress();
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

  /**
   * Accepts connections until one carries a valid hello from {@code leftRank}; others are turned away.
   * Meanwhile reads the right neighbour's reply into {@code reply}, so that a rejection fails at once.
   */
  private SocketChannel acceptFrom(ServerSocketChannel server, int leftRank, long session, RingLinks.Peer right,
      ByteBuffer reply) throws IOException {
    server.configureBlocking(false);
    int rejected = 0;
    while (true) {
      SocketChannel candidate = server.accept();
      if (candidate == null) {
        if (reply.hasRemaining() && right.channel().read(reply) < 0) {
          throw new CollectiveException("rank " + rank + ": right " + right + " closed the connection before "
              + "answering the handshake");
        }
        if (!reply.hasRemaining()) {
          checkReply(right, reply, session);
        }
        if (remainingMillis() <= 0) {
          throw new CollectiveException("rank " + rank + ": no valid connection from left rank " + leftRank
              + " within " + options.connectTimeout().toMillis() + " ms (" + rejected + " peers rejected)");
        }
        awaitAcceptOrReply(server, reply.hasRemaining() ? right.channel() : null);
        continue;
      }
      String from = String.valueOf(candidate.getRemoteAddress());
      try {
        candidate.configureBlocking(false);
        configure(candidate);
        ByteBuffer hello = ByteBuffer.allocate(Handshake.BYTES);
        transfer(candidate, hello, false, "reading hello from " + from);
        Handshake.Verdict verdict = Handshake.judgeHello(hello.flip(), session, leftRank, worldSize);
        transfer(candidate, Handshake.reply(verdict, session, rank, worldSize), true, "answering " + from);
        if (verdict == Handshake.Verdict.ACCEPTED) {
          return candidate;
        }
        LOG.warn("rank {}: rejected connection from {}: it {}", rank, from, verdict.description);
      } catch (CollectiveException e) {
        LOG.warn("rank {}: dropped connection from {}: {}", rank, from, e.getMessage());
      }
      rejected++;
      candidate.close();
    }
  }

  private void checkReply(RingLinks.Peer right, ByteBuffer reply, long session) {
    Handshake.Verdict verdict = Handshake.judgeReply(reply.duplicate().flip(), session, right.rank(), worldSize);
    if (verdict != Handshake.Verdict.ACCEPTED) {
      throw new CollectiveException("rank " + rank + ": handshake with right " + right + " failed: this rank "
          + verdict.description + " as seen from that end" + (options.sessionId().isEmpty() ? ""
              : " (session '" + options.sessionId() + "')"));
    }
  }

  /** Sends or receives all of {@code buffer} on a non-blocking channel before the connect deadline. */
  private void transfer(SocketChannel channel, ByteBuffer buffer, boolean write, String what) {
    try {
      while (buffer.hasRemaining()) {
        int n = write ? channel.write(buffer) : channel.read(buffer);
        if (n < 0) {
          throw new CollectiveException("rank " + rank + ": connection closed while " + what);
        }
        if (n == 0) {
          if (remainingMillis() <= 0) {
            throw new CollectiveException("rank " + rank + ": timed out after "
                + options.connectTimeout().toMillis() + " ms " + what);
          }
          await(channel, write ? SelectionKey.OP_WRITE : SelectionKey.OP_READ);
        }
      }
    } catch (IOException e) {
      throw new CollectiveException("rank " + rank + ": I/O error " + what + ": " + e.getMessage(), e);
    }
  }

  private void await(SelectableChannel channel, int ops) throws IOException {
    try (Selector selector = Selector.open()) {
      channel.register(selector, ops);
      selector.select(Math.max(1, remainingMillis()));
    }
  }

  private void awaitAcceptOrReply(ServerSocketChannel server, SocketChannel right) throws IOException {
    try (Selector selector = Selector.open()) {
      server.register(selector, SelectionKey.OP_ACCEPT);
      if (right != null) {
        right.register(selector, SelectionKey.OP_READ);
      }
      selector.select(Math.max(1, remainingMillis()));
    }
  }

  private long remainingMillis() {
    return TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
  }
}
