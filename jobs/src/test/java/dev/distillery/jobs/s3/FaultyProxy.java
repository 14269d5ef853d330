package dev.distillery.jobs.s3;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP relay in front of a server that breaks connections the way a flaky network or load balancer does:
 * every {@code resetEvery}-th connection is reset (TCP RST) as soon as it is accepted, and every connection is
 * reset, whatever it is doing (mid-request or mid-response included), once it has lived {@code maxLifeMillis}. The
 * lifetime forces pooled keep-alive connections to be replaced, so resets keep coming through a long run.
 */
final class FaultyProxy implements AutoCloseable {
  private final ServerSocket server;
  private final int upstreamPort;
  private final int resetEvery;
  private final long maxLifeMillis;
  private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "faulty-proxy");
    t.setDaemon(true);
    return t;
  });
  private final AtomicInteger connections = new AtomicInteger();
  private final AtomicInteger resetAtConnect = new AtomicInteger();
  private final AtomicInteger resetInFlight = new AtomicInteger();

  FaultyProxy(int upstreamPort, int resetEvery, long maxLifeMillis) throws IOException {
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    this.upstreamPort = upstreamPort;
    this.resetEvery = resetEvery;
    this.maxLifeMillis = maxLifeMillis;
    threads.execute(this::acceptLoop);
  }

  int port() {
    return server.getLocalPort();
  }

  /** Connections reset on accept so far. */
  int resetsAtConnect() {
    return resetAtConnect.get();
  }

  /** Connections reset at the end of their lifetime while bytes had been relayed on them (busy or pooled). */
  int resetsInFlight() {
    return resetInFlight.get();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket client = server.accept();
        if (connections.incrementAndGet() % resetEvery == 0) {
          resetAtConnect.incrementAndGet();
          reset(client);
          continue;
        }
        threads.execute(() -> relay(client));
      } catch (IOException closed) {
        return;
      }
    }
  }

  private void relay(Socket client) {
    try (Socket upstream = new Socket(InetAddress.getLoopbackAddress(), upstreamPort)) {
      AtomicInteger relayed = new AtomicInteger();
      threads.execute(() -> pump(client, upstream, relayed));
      threads.execute(() -> pump(upstream, client, relayed));
      Thread.sleep(maxLifeMillis);
      if (!client.isClosed() && relayed.get() > 0) {
        resetInFlight.incrementAndGet();
      }
      reset(client);
      reset(upstream);
    } catch (IOException | InterruptedException e) {
      reset(client);
    }
  }

  private static void pump(Socket from, Socket to, AtomicInteger relayed) {
    byte[] buffer = new byte[16384];
    try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
      for (int n; (n = in.read(buffer)) >= 0; ) {
        out.write(buffer, 0, n);
        out.flush();
        relayed.addAndGet(n);
      }
    } catch (IOException closed) {
      // the other side or the lifetime reset ended the connection
    } finally {
      reset(from);
      reset(to);
    }
  }

  /** Closes with SO_LINGER 0, which sends a TCP RST instead of an orderly FIN. */
  private static void reset(Socket socket) {
    try {
      if (!socket.isClosed()) {
        socket.setSoLinger(true, 0);
        socket.close();
      }
    } catch (IOException ignored) {
      // already gone
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    threads.shutdownNow();
  }
}
