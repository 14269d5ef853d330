package dev.distillery.collective;

import java.time.Duration;

/**
 * Settings of a {@link RingAllReduce}.
 *
 * @param bindAddress local address the ring listens on; {@code null} for all interfaces
 * @param advertisedHost host name or address other ranks connect to; {@code null} for the bind address, or
 *     this machine's address when listening on all interfaces
 * @param connectTimeout how long forming the ring (connect, accept, handshake) may take
 * @param operationTimeout how long an operation may go without any progress (bytes sent or received)
 *     before the peer is declared dead; it includes waiting for the slowest rank to reach the operation
 * @param bucketBytes the ring reduces buffers in buckets of this many bytes, each cut into one chunk per
 *     rank; smaller buckets fill and drain the pipeline more often
 * @param socketBufferBytes TCP send and receive buffer size; 0 leaves the operating system's
 *     auto-tuning on
 * @param sessionId identifies one job attempt (e.g. Spark stage and attempt); peers with another id are
 *     rejected at the handshake
 * @param secret what every rank of the job proves it knows at the handshake ({@link Handshake}); ranks with
 *     another secret are rejected
 */
public record CollectiveOptions(
    String bindAddress,
    String advertisedHost,
    Duration connectTimeout,
    Duration operationTimeout,
    int bucketBytes,
    int socketBufferBytes,
    String sessionId,
    RingSecret secret) {

  public static final int DEFAULT_BUCKET_BYTES = 16 << 20;

  public CollectiveOptions {
    requirePositive(connectTimeout, "connect timeout");
    requirePositive(operationTimeout, "operation timeout");
    if (bucketBytes < 4) {
      throw new IllegalArgumentException("bucket size must be >= 4 bytes, got " + bucketBytes);
    }
    if (socketBufferBytes < 0) {
      throw new IllegalArgumentException("socket buffer size must be >= 0, got " + socketBufferBytes);
    }
    sessionId = sessionId == null ? "" : sessionId;
    if (secret == null) {
      throw new IllegalArgumentException("the ring needs a secret");
    }
  }

  /**
   * All interfaces, 60 s to connect, 5 min without progress, 16 MiB buckets, OS socket buffers, and a random
   * secret of its own (so only ranks given these options, or a copy, can form a ring; see {@link #withSecret}).
   */
  public static CollectiveOptions defaults() {
    return new CollectiveOptions(null, null, Duration.ofSeconds(60), Duration.ofMinutes(5),
        DEFAULT_BUCKET_BYTES, 0, "", RingSecret.random());
  }

  /** Loopback only: ranks that are threads or processes of one machine. */
  public static CollectiveOptions loopback() {
    return defaults().withBindAddress("127.0.0.1");
  }

  /** Listens on {@code host}'s address only and advertises {@code host} (e.g. the executor's host as Spark knows it). */
  public CollectiveOptions forHost(String host) {
    return withBindAddress(host).withAdvertisedHost(host);
  }

  public CollectiveOptions withSecret(RingSecret ringSecret) {
    return new CollectiveOptions(bindAddress, advertisedHost, connectTimeout, operationTimeout, bucketBytes,
        socketBufferBytes, sessionId, ringSecret);
  }

  public CollectiveOptions withBindAddress(String address) {
    return new CollectiveOptions(address, advertisedHost, connectTimeout, operationTimeout, bucketBytes,
        socketBufferBytes, sessionId, secret);
  }

  public CollectiveOptions withAdvertisedHost(String host) {
    return new CollectiveOptions(bindAddress, host, connectTimeout, operationTimeout, bucketBytes,
        socketBufferBytes, sessionId, secret);
  }

  public CollectiveOptions withTimeouts(Duration connect, Duration operation) {
    return new CollectiveOptions(bindAddress, advertisedHost, connect, operation, bucketBytes,
        socketBufferBytes, sessionId, secret);
  }

  public CollectiveOptions withBucketBytes(int bytes) {
    return new CollectiveOptions(bindAddress, advertisedHost, connectTimeout, operationTimeout, bytes,
        socketBufferBytes, sessionId, secret);
  }

  public CollectiveOptions withSocketBufferBytes(int bytes) {
    return new CollectiveOptions(bindAddress, advertisedHost, connectTimeout, operationTimeout, bucketBytes,
        bytes, sessionId, secret);
  }

  public CollectiveOptions withSessionId(String id) {
    return new CollectiveOptions(bindAddress, advertisedHost, connectTimeout, operationTimeout, bucketBytes,
        socketBufferBytes, id, secret);
  }

  private static void requirePositive(Duration d, String what) {
    if (d == null || d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(what + " must be > 0, got " + d);
    }
  }
}
