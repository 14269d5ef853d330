package dev.distillery.collective;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The secret the ranks of one job share: a peer proves it knows it by an HMAC-SHA256 over fresh nonces in the
 * {@link Handshake}; the secret itself is never sent and never printed ({@link #toString} is redacted).
 */
public final class RingSecret {
  private static final SecureRandom RANDOM = new SecureRandom();

  private final byte[] key;

  private RingSecret(byte[] key) {
    if (key.length == 0) {
      throw new IllegalArgumentException("the ring secret must not be empty");
    }
    this.key = key.clone();
  }

  /** A secret from text (e.g. {@code spark.authenticate.secret}), as its UTF-8 bytes. */
  public static RingSecret of(String text) {
    return new RingSecret(text.getBytes(StandardCharsets.UTF_8));
  }

  /** 32 random bytes, as text for {@link #of}: what a driver generates when the job has no secret. */
  public static String generate() {
    return Base64.getEncoder().encodeToString(nonce(32));
  }

  /** A secret of its own, for ranks that share one options object (threads of one JVM). */
  static RingSecret random() {
    return new RingSecret(nonce(32));
  }

  static byte[] nonce(int bytes) {
    byte[] b = new byte[bytes];
    RANDOM.nextBytes(b);
    return b;
  }

  /** HMAC-SHA256 of {@code parts}, in order. */
  byte[] mac(byte[]... parts) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      for (byte[] part : parts) {
        mac.update(part);
      }
      return mac.doFinal();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e);
    }
  }

  @Override
  public String toString() {
    return "RingSecret(redacted)";
  }
}
