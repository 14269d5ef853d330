package dev.distillery.jobs.s3;

import dev.distillery.io.Storage;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * A real S3 API on loopback: s3proxy (its jar is copied to {@code target/s3proxy/} by the build) run as its own
 * process over the filesystem backend, so each bucket is a folder under {@link #bucketDir} that a test can fill
 * and inspect directly. Used by the s3 tests and by the cluster tests (the run directory on {@code s3a://}).
 */
public final class S3Proxy implements AutoCloseable {
  private final Path baseDir;
  private final List<String> command;
  private final Path log;
  private Process process;
  final int port;
  final String accessKey;
  final String secretKey;

  private S3Proxy(List<String> command, Path log, Path baseDir, int port, String accessKey, String secretKey) {
    this.command = command;
    this.log = log;
    this.baseDir = baseDir;
    this.port = port;
    this.accessKey = accessKey;
    this.secretKey = secretKey;
  }

  /** Starts s3proxy with the given static credentials; objects live under {@code baseDir}, its log in {@code work}. */
  public static S3Proxy start(Path baseDir, Path work, String accessKey, String secretKey) throws Exception {
    Path jar = Path.of("target/s3proxy/s3proxy.jar");
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(jar.toAbsolutePath() + " missing; run the tests through Maven (mvn test)");
    }
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    Path properties = work.resolve("s3proxy.properties");
    Files.writeString(properties, String.join("\n",
        "s3proxy.endpoint=http://127.0.0.1:" + port,
        "s3proxy.authorization=aws-v2-or-v4",
        "s3proxy.identity=" + accessKey,
        "s3proxy.credential=" + secretKey,
        "jclouds.provider=filesystem",
        "jclouds.filesystem.basedir=" + baseDir) + "\n");
    Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> command = List.of(javaBin.toString(), "-Xmx512m", "-jar", jar.toString(), "--properties",
        properties.toString());
    S3Proxy proxy = new S3Proxy(command, work.resolve("s3proxy.log"), baseDir, port, accessKey, secretKey);
    proxy.launch();
    return proxy;
  }

  /** Stops s3proxy (SIGTERM): the endpoint refuses connections until {@link #relaunch()}. */
  void stop() throws InterruptedException {
    close();
  }

  /** Starts s3proxy again after {@link #stop()}, on the same port and objects. */
  void relaunch() throws Exception {
    launch();
  }

  private void launch() throws Exception {
    process = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (true) {
      try (Socket probe = new Socket("127.0.0.1", port)) {
        return;
      } catch (IOException notYet) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          close();
          throw new IllegalStateException("s3proxy did not start; see " + log);
        }
        Thread.sleep(200);
      }
    }
  }

  /** The folder holding bucket {@code bucket}'s objects (created: a folder under the base is a bucket). */
  public Path bucketDir(String bucket) throws IOException {
    return Files.createDirectories(baseDir.resolve(bucket));
  }

  /** The S3A settings for this endpoint, the Spark way ({@code spark.hadoop.fs.s3a.*}). */
  public Map<String, String> sparkSettings() {
    return sparkSettings(port);
  }

  /** {@link #sparkSettings()} with the endpoint at {@code endpointPort} (a relay in front of this one). */
  Map<String, String> sparkSettings(int endpointPort) {
    return Map.of(
        "spark.hadoop.fs.s3a.endpoint", "http://127.0.0.1:" + endpointPort,
        "spark.hadoop.fs.s3a.endpoint.region", "us-east-1",
        "spark.hadoop.fs.s3a.path.style.access", "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled", "false",
        "spark.hadoop.fs.s3a.directory.marker.retention", "keep",
        "spark.hadoop.fs.s3a.access.key", accessKey,
        "spark.hadoop.fs.s3a.secret.key", secretKey);
  }

  /** Storage on this endpoint for the test's own uploads (a file system instance of its own, not cached). */
  public Storage storage(String uri) {
    Configuration conf = new Configuration();
    sparkSettings().forEach((key, value) -> conf.set(key.substring("spark.hadoop.".length()), value));
    conf.setBoolean("fs.s3a.impl.disable.cache", true);
    return Storage.of(uri, conf);
  }

  /** The settings as JVM options, as a user puts them in {@code DISTILLERY_JAVA_OPTS}. */
  List<String> javaOptions() {
    return javaOptions(port);
  }

  /** {@link #javaOptions()} with the endpoint at {@code endpointPort} (a relay in front of this one). */
  List<String> javaOptions(int endpointPort) {
    return sparkSettings(endpointPort).entrySet().stream().map(e -> "-D" + e.getKey() + "=" + e.getValue())
        .sorted().toList();
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    process.waitFor();
  }
}
