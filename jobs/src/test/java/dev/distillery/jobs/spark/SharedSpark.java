package dev.distillery.jobs.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * The one local-mode SparkSession of a test JVM (two cores, like CI), created on first use and stopped
 * when the JVM exits. Tests share it instead of paying Spark's start-up each time.
 */
public final class SharedSpark {
  private static SparkSession session;

  private SharedSpark() {}

  /** The shared session. */
  public static synchronized SparkSession session() {
    if (session == null) {
      SparkConf conf = new SparkConf(false);
      SparkSessions.applyLocalDefaults(conf, "local[2]");
      conf.set("spark.sql.shuffle.partitions", "4");
      session = SparkSession.builder().appName("distillery-tests").config(conf).getOrCreate();
      TaskFailures.install(session.sparkContext());
      Runtime.getRuntime().addShutdownHook(new Thread(session::stop));
    }
    return session;
  }
}
