package dev.distillery.collective;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * The first bytes on a ring connection. The connecting rank sends a hello (session, its rank, world size);
 * the accepting rank answers with its verdict, so that a peer of another session (a stale attempt whose
 * port was reused) or of the wrong position in the ring is turned away on both ends.
 */
final class Handshake {
  static final int BYTES = 24;
  private static final int MAGIC = 0x44524e47; // "DRNG"
  private static final int VERSION = 1;

  /** Why an acceptor turned a hello away; the ordinal travels in the reply. */
  enum Verdict {
    ACCEPTED("accepted"),
    NOT_A_RING_PEER("not a Distillery ring peer or another protocol version"),
    OTHER_SESSION("belongs to another session (a stale or foreign job attempt)"),
    WRONG_POSITION("has the wrong rank or world size for this position in the ring");

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

  static ByteBuffer hello(long session, int senderRank, int worldSize) {
    return message(VERSION, session, senderRank, worldSize);
  }

  static ByteBuffer reply(Verdict verdict, long session, int receiverRank, int worldSize) {
    return message(verdict.ordinal(), session, receiverRank, worldSize);
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

  /** The acceptor's verdict as the connecting rank sees it, including checks of who answered. */
  static Verdict judgeReply(ByteBuffer reply, long session, int expectedRank, int worldSize) {
    if (reply.getInt(0) != MAGIC) {
      return Verdict.NOT_A_RING_PEER;
    }
    int status = reply.getInt(4);
    if (status != Verdict.ACCEPTED.ordinal()) {
      Verdict[] all = Verdict.values();
      return status > 0 && status < all.length ? all[status] : Verdict.NOT_A_RING_PEER;
    }
    if (reply.getLong(8) != session) {
      return Verdict.OTHER_SESSION;
    }
    if (reply.getInt(16) != expectedRank || reply.getInt(20) != worldSize) {
      return Verdict.WRONG_POSITION;
    }
    return Verdict.ACCEPTED;
  }

  private static ByteBuffer message(int versionOrStatus, long session, int rank, int worldSize) {
    ByteBuffer b = ByteBuffer.allocate(BYTES);
    b.putInt(MAGIC).putInt(versionOrStatus).putLong(session).putInt(rank).putInt(worldSize);
    return b.flip();
  }
}
