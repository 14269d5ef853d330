package dev.distillery.collective;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;

/**
 * The first bytes on a ring connection, a challenge/response over the job's {@link RingSecret}:
 * <ol>
 *   <li>hello, connecting rank to acceptor: session, rank, world size, nonce C;
 *   <li>challenge, acceptor: its verdict on the hello, session, rank, world size, nonce A and
 *       HMAC("acceptor", session, world, connecting rank, C, A), which proves the acceptor knows the secret;
 *   <li>proof, connecting rank: HMAC("connector", session, world, its rank, C, A);
 *   <li>ack, acceptor: its verdict on the proof.
 * </ol>
 * The session travels in clear only to tell a stale attempt from a forger; a peer of another session (a stale
 * attempt whose port was reused), of the wrong position in the ring, or without the secret is turned away on both
 * ends. Fresh nonces on both sides make a recorded exchange useless.
 */
final class Handshake {
  static final int NONCE_BYTES = 16;
  static final int MAC_BYTES = 32;
  static final int HELLO_BYTES = 24 + NONCE_BYTES;
  static final int CHALLENGE_BYTES = 24 + NONCE_BYTES + MAC_BYTES;
  static final int PROOF_BYTES = MAC_BYTES;
  static final int ACK_BYTES = 8;
  private static final int MAGIC = 0x44524e47; // "DRNG"
  private static final int VERSION = 2;
  private static final byte[] ACCEPTOR = "acceptor".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] CONNECTOR = "connector".getBytes(StandardCharsets.US_ASCII);

  /** Why an end turned the other away; the ordinal travels in the challenge and the ack. */
  enum Verdict {
    ACCEPTED("accepted"),
    NOT_A_RING_PEER("not a Distillery ring peer or another protocol version"),
    OTHER_SESSION("belongs to another session (a stale or foreign job attempt)"),
    WRONG_POSITION("has the wrong rank or world size for this position in the ring"),
    NOT_AUTHENTICATED("failed authentication (no or a wrong ring secret)");

    final String description;

    Verdict(String description) {
      this.description = description;
    }
  }

  private Handshake() {}

  /**
   * The session both ends must share: the configured session id and everything the rendezvous returned,
   * which differs between attempts because listening ports do.
   */
  static long sessionHash(String sessionId, List<String> addresses) {
    long h = 1125899906842597L;
    for (String s : addresses) {
      h = mix(h, s);
    }
    return mix(h, sessionId);
  }

  private static long mix(long h, String s) {
    for (int i = 0; i < s.length(); i++) {
      h = 31 * h + s.charAt(i);
    }
    return h * 0x9e3779b97f4a7c15L + s.length();
  }

  static ByteBuffer hello(long session, int senderRank, int worldSize, byte[] nonce) {
    return header(HELLO_BYTES, VERSION, session, senderRank, worldSize).put(nonce).flip();
  }

  /** The acceptor's answer to a hello; the MAC only when {@code verdict} accepts. */
  static ByteBuffer challenge(Verdict verdict, RingSecret secret, long session, int receiverRank, int worldSize,
      ByteBuffer hello, byte[] nonce) {
    ByteBuffer b = header(CHALLENGE_BYTES, verdict.ordinal(), session, receiverRank, worldSize).put(nonce);
    b.put(verdict == Verdict.ACCEPTED ? mac(ACCEPTOR, secret, session, worldSize, hello, nonce)
        : new byte[MAC_BYTES]);
    return b.flip();
  }

  static ByteBuffer proof(RingSecret secret, long session, int worldSize, ByteBuffer hello, ByteBuffer challenge) {
    return ByteBuffer.wrap(mac(CONNECTOR, secret, session, worldSize, hello, nonceOf(challenge)));
  }

  static ByteBuffer ack(Verdict verdict) {
    return ByteBuffer.allocate(ACK_BYTES).putInt(MAGIC).putInt(verdict.ordinal()).flip();
  }

  /** Checks a received hello against what the acceptor expects from its left neighbour. */
  static Verdict judgeHello(ByteBuffer hello, long session, int expectedRank, int worldSize) {
    if (hello.getInt(0) != MAGIC || hello.getInt(4) != VERSION) {
      return Verdict.NOT_A_RING_PEER;
    }
    if (hello.getLong(8) != session) {
      return Verdict.OTHER_SESSION;
    }
    if (hello.getInt(16) != expectedRank || hello.getInt(20) != worldSize) {
      return Verdict.WRONG_POSITION;
    }
    return Verdict.ACCEPTED;
  }

  /** The verdict an acceptor sent in a challenge or an ack. */
  static Verdict verdictOf(ByteBuffer message) {
    if (message.getInt(0) != MAGIC) {
      return Verdict.NOT_A_RING_PEER;
    }
    int status = message.getInt(4);
    Verdict[] all = Verdict.values();
    return status >= 0 && status < all.length ? all[status] : Verdict.NOT_A_RING_PEER;
  }

  /** Who answered, as the connecting rank checks it: the acceptor expected, of this session, with the secret. */
  static Verdict judgeChallenge(ByteBuffer challenge, RingSecret secret, long session, int expectedRank,
      int worldSize, ByteBuffer hello) {
    if (challenge.getLong(8) != session) {
      return Verdict.OTHER_SESSION;
    }
    if (challenge.getInt(16) != expectedRank || challenge.getInt(20) != worldSize) {
      return Verdict.WRONG_POSITION;
    }
    byte[] expected = mac(ACCEPTOR, secret, session, worldSize, hello, nonceOf(challenge));
    byte[] actual = new byte[MAC_BYTES];
    challenge.get(24 + NONCE_BYTES, actual);
    return MessageDigest.isEqual(expected, actual) ? Verdict.ACCEPTED : Verdict.NOT_AUTHENTICATED;
  }

  /** The acceptor's check of the connecting rank's proof. */
  static Verdict judgeProof(ByteBuffer proof, RingSecret secret, long session, int worldSize, ByteBuffer hello,
      ByteBuffer challenge) {
    byte[] expected = mac(CONNECTOR, secret, session, worldSize, hello, nonceOf(challenge));
    byte[] actual = new byte[MAC_BYTES];
    proof.get(0, actual);
    return MessageDigest.isEqual(expected, actual) ? Verdict.ACCEPTED : Verdict.NOT_AUTHENTICATED;
  }

  /** HMAC over the label, the session, the world size, the connecting rank and both nonces. */
  private static byte[] mac(byte[] label, RingSecret secret, long session, int worldSize, ByteBuffer hello,
      byte[] acceptorNonce) {
    byte[] context = ByteBuffer.allocate(16).putLong(session).putInt(worldSize).putInt(hello.getInt(16)).array();
    return secret.mac(label, context, nonceOf(hello), acceptorNonce);
  }

  private static byte[] nonceOf(ByteBuffer message) {
    byte[] nonce = new byte[NONCE_BYTES];
    message.get(24, nonce);
    return nonce;
  }

  private static ByteBuffer header(int bytes, int versionOrStatus, long session, int rank, int worldSize) {
    return ByteBuffer.allocate(bytes).putInt(MAGIC).putInt(versionOrStatus).putLong(session).putInt(rank)
        .putInt(worldSize);
  }
}
