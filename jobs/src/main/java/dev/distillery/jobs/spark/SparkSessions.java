package dev.distillery.jobs.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * Creates the job's SparkSession. Under {@code spark-submit} the cluster's settings apply unchanged; run
 * directly (the local launcher, tests) it becomes a local-mode session on this machine's cores.
 */
public final class SparkSessions {
  private SparkSessions() {}

  /** The session for job {@code jobName}: the submitted one, or {@code local[*]} when there is no master. */
  public static SparkSession forJob(String jobName) {
    SparkConf conf = new SparkConf(true);
    if (!conf.contains("spark.master")) {
      applyLocalDefaults(conf, "local[*]");
    }
    SparkSession session = SparkSession.builder().appName("distillery-" + jobName).config(conf).getOrCreate();
    TaskFailures.install(session.sparkContext());
    return session;
  }

  /**
   * Settings for local mode: a small shuffle, no UI, file listing on the driver, and quiet retries so a
   * failing task fails the job fast.
   */
  public static void applyLocalDefaults(SparkConf conf, String master) {
    conf.setMaster(master);
    conf.setIfMissing("spark.ui.enabled", "false");
    conf.setIfMissing("spark.sql.shuffle.partitions", "8");
    conf.setIfMissing("spark.driver.host", "127.0.0.1");
    conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
    conf.setIfMissing("spark.sql.adaptive.enabled", "false");
    // List up to 1024 input paths on the driver: a listing job (Spark's default above 32) takes longer here.
    conf.setIfMissing("spark.sql.sources.parallelPartitionDiscovery.threshold", "1024");
    conf.setIfMissing("spark.barrier.sync.timeout", "300");
  }
}
