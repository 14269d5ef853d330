package dev.distillery.collective;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A rank's two connections in the ring: it sends to its right neighbour and receives from its left one,
 * each direction on a non-blocking channel that declares its peer dead after the operation timeout without
 * progress. Closing the links makes neighbours blocked on this rank fail at once.
 */
final class RingLinks implements Closeable {
  /** A neighbour: its rank, its advertised address and the connection to it. */
  record Peer(int rank, PeerAddress address, SocketChannel channel) {
    @Override
    public String toString() {
      return "rank " + rank + " (" + address + ")";
    }
  }

  private final int rank;
  private final Direction receiving;
  private final Direction sending;

  RingLinks(int rank, Peer left, Peer right, long timeoutNanos) throws IOException {
    this.rank = rank;
    this.receiving = new Direction(left, SelectionKey.OP_READ, timeoutNanos);
    this.sending = new Direction(right, SelectionKey.OP_WRITE, timeoutNanos);
  }

  /**
   * Sends {@code out} to the right neighbour, then fills {@code in} from the left one. For messages that
   * fit in the socket buffers (a few kilobytes): larger ones go through {@link #sending} on another thread.
   *
   * @param step what the ring is doing, for error messages
   */
  void exchangeSmall(ByteBuffer out, ByteBuffer in, Supplier<String> step) {
    sending.transferAll(out, step);
    receiving.transferAll(in, step);
  }

  /** {@link #exchangeSmall(ByteBuffer, ByteBuffer, Supplier)} waiting up to {@code timeoutNanos} without progress. */
  void exchangeSmall(ByteBuffer out, ByteBuffer in, Supplier<String> step, long timeoutNanos) {
    sending.transferAll(out, step, timeoutNanos);
    receiving.transferAll(in, step, timeoutNanos);
  }

  /** The connection to the right neighbour. */
  Direction sending() {
    return sending;
  }

  /** The connection from the left neighbour. */
  Direction receiving() {
    return receiving;
  }

  /** Closes both connections, so that neighbours blocked on this rank fail at once instead of timing out. */
  @Override
  public void close() {
    receiving.close();
    sending.close();
  }

  /** One direction of the ring on a non-blocking channel with its own selector. */
  final class Direction {
    private final Peer peer;
    private final int operation;
    private final long timeoutNanos;
    private final Selector selector;

    Direction(Peer peer, int operation, long timeoutNanos) throws IOException {
      this.peer = peer;
      this.operation = operation;
      this.timeoutNanos = timeoutNanos;
      this.selector = Selector.open();
      peer.channel().configureBlocking(false);
      peer.channel().register(selector, operation);
    }

    /** Moves what the channel takes (or has) right now; returns the byte count. */
    private int transferNow(ByteBuffer buffer, Supplier<String> step) {
      if (!buffer.hasRemaining()) {
        return 0;
      }
      int n;
      try {
        n = operation == SelectionKey.OP_WRITE ? peer.channel().write(buffer) : peer.channel().read(buffer);
      } catch (IOException e) {
        throw new CollectiveException("rank " + rank + ": connection " + describe() + " failed in " + step.get()
            + ": " + e, e);
      }
      if (n < 0) {
        throw new CollectiveException("rank " + rank + ": " + describe() + " closed the connection in "
            + step.get() + " after " + buffer.position() + " of " + buffer.limit() + " bytes");
      }
      return n;
    }

    /** Moves all of {@code buffer}'s remaining bytes, failing after the timeout without progress. */
    void transferAll(ByteBuffer buffer, Supplier<String> step) {
      transferAll(buffer, step, timeoutNanos);
    }

    /** Moves all of {@code buffer}'s remaining bytes, failing after {@code timeoutNanos} without progress. */
    void transferAll(ByteBuffer buffer, Supplier<String> step, long timeoutNanos) {
      long lastProgress = System.nanoTime();
      while (buffer.hasRemaining()) {
        if (transferNow(buffer, step) > 0) {
          lastProgress = System.nanoTime();
          continue;
        }
        long remaining = timeoutNanos - (System.nanoTime() - lastProgress);
        if (remaining <= 0) {
          throw new CollectiveException(String.format("rank %d: no progress for %d ms in %s: %s %d of %d bytes %s",
              rank, TimeUnit.NANOSECONDS.toMillis(timeoutNanos), step.get(),
              operation == SelectionKey.OP_WRITE ? "sent" : "received", buffer.position(), buffer.limit(),
              describe()));
        }
        try {
          selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining)));
          selector.selectedKeys().clear();
        } catch (IOException | ClosedSelectorException e) {
          throw new CollectiveException("rank " + rank + ": ring closed in " + step.get(), e);
        }
      }
    }

    private String describe() {
      return (operation == SelectionKey.OP_WRITE ? "to right " : "from left ") + peer;
    }

    void close() {
      try {
        selector.close();
        peer.channel().close();
      } catch (IOException ignored) {
        // already failing or closing; nothing more to tell
      }
    }
  }
}
