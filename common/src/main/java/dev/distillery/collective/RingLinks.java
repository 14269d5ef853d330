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
 * A rank's two connections in the ring: it sends to its right neighbour and receives from its left one.
 * {@link #exchange} runs a send and a receive at the same time on non-blocking channels, so neighbours
 * never wait on each other's full socket buffers, and declares a peer dead after the operation timeout
 * without progress.
 */
final class RingLinks implements Closeable {
  /** Told, after each read, how many bytes of the receive buffer have arrived so far. */
  interface ReceiveListener {
    void received(int bytesSoFar);
  }

  private final int rank;
  private final Peer left;
  private final Peer right;
  private final long timeoutNanos;
  private final Selector selector;
  private final SelectionKey leftKey;
  private final SelectionKey rightKey;

  /** A neighbour: its rank, its advertised address and the connection to it. */
  record Peer(int rank, PeerAddress address, SocketChannel channel) {
    @Override
    public String toString() {
      return "rank " + rank + " (" + address + ")";
    }
  }

  RingLinks(int rank, Peer left, Peer right, long timeoutNanos) throws IOException {
    this.rank = rank;
    this.left = left;
    this.right = right;
    this.timeoutNanos = timeoutNanos;
    this.selector = Selector.open();
    left.channel().configureBlocking(false);
    right.channel().configureBlocking(false);
    this.leftKey = left.channel().register(selector, 0);
    this.rightKey = right.channel().register(selector, 0);
  }

  Peer left() {
    return left;
  }

  Peer right() {
    return right;
  }

  /**
   * Sends {@code out}'s remaining bytes to the right neighbour while filling {@code in} from the left one.
   *
   * @param step what the ring is doing, for error messages
   */
  void exchange(ByteBuffer out, ByteBuffer in, ReceiveListener listener, Supplier<String> step) {
    int outStart = out.position();
    long lastProgress = System.nanoTime();
    try {
      while (out.hasRemaining() || in.hasRemaining()) {
        boolean progress = out.hasRemaining() && send(out, step) > 0;
        if (in.hasRemaining() && receive(in, step) > 0) {
          progress = true;
          listener.received(in.position());
        }
        long now = System.nanoTime();
        if (progress) {
          lastProgress = now;
          continue;
        }
        long remaining = timeoutNanos - (now - lastProgress);
        if (remaining <= 0) {
          throw new CollectiveException(String.format(
              "rank %d: no progress for %d ms in %s: received %d of %d bytes from left %s, sent %d of %d "
                  + "bytes to right %s", rank, TimeUnit.NANOSECONDS.toMillis(timeoutNanos), step.get(),
              in.position(), in.limit(), left, out.position() - outStart, out.limit() - outStart, right));
        }
        rightKey.interestOps(out.hasRemaining() ? SelectionKey.OP_WRITE : 0);
        leftKey.interestOps(in.hasRemaining() ? SelectionKey.OP_READ : 0);
        selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining)));
        selector.selectedKeys().clear();
      }
    } catch (IOException | ClosedSelectorException e) {
      throw new CollectiveException("rank " + rank + ": ring closed in " + step.get(), e);
    }
  }

  private int send(ByteBuffer out, Supplier<String> step) {
    try {
      return right.channel().write(out);
    } catch (IOException e) {
      throw new CollectiveException("rank " + rank + ": connection to right " + right + " failed while sending in "
          + step.get() + ": " + e, e);
    }
  }

  private int receive(ByteBuffer in, Supplier<String> step) {
    int n;
    try {
      n = left.channel().read(in);
    } catch (IOException e) {
      throw new CollectiveException("rank " + rank + ": connection from left " + left + " failed while receiving in "
          + step.get() + ": " + e, e);
    }
    if (n < 0) {
      throw new CollectiveException("rank " + rank + ": left " + left + " closed the connection in " + step.get()
          + " after " + in.position() + " of " + in.limit() + " bytes");
    }
    return n;
  }

  /** Closes both connections, so that neighbours blocked on this rank fail at once instead of timing out. */
  @Override
  public void close() {
    closeQuietly(selector);
    closeQuietly(left.channel());
    closeQuietly(right.channel());
  }

  private static void closeQuietly(Closeable c) {
    try {
      c.close();
    } catch (IOException ignored) {
      // already failing or closing; nothing more to tell
    }
  }
}
