package dev.distillery.testing;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.function.Supplier;

/** Runs code with {@code System.err} captured, for tests of what a user is warned about. */
public final class CapturedStderr {
  private CapturedStderr() {}

  /** Returns {@code body}'s result; what it wrote to {@code System.err} is appended to {@code log}. */
  public static <T> T capture(StringBuilder log, Supplier<T> body) {
    PrintStream err = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setErr(new PrintStream(captured, true));
    try {
      return body.get();
    } finally {
      System.setErr(err);
      log.append(captured);
    }
  }
}
