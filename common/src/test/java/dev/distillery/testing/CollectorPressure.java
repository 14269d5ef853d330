package dev.distillery.testing;

/**
 * Runs the garbage collector over and over on a daemon thread until closed, so that any native memory still in use
 * but owned by an unreachable Java object (a direct buffer, say) is freed while the code under test runs.
 */
public final class CollectorPressure implements AutoCloseable {
  private final Thread thread;

  private CollectorPressure() {
    thread = new Thread(() -> {
      while (!Thread.currentThread().isInterrupted()) {
        System.gc();
        try {
          Thread.sleep(1);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "collector-pressure");
    thread.setDaemon(true);
  }

  /** Starts collecting continuously. */
  public static CollectorPressure start() {
    CollectorPressure pressure = new CollectorPressure();
    pressure.thread.start();
    return pressure;
  }

  @Override
  public void close() {
    thread.interrupt();
    try {
      thread.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
