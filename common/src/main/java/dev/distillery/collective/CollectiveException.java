package dev.distillery.collective;

/** A collective operation failed: a peer timed out, closed its connection, diverged or was rejected. */
public class CollectiveException extends RuntimeException {
  public CollectiveException(String message) {
    super(message);
  }

  public CollectiveException(String message, Throwable cause) {
    super(message, cause);
  }
}
