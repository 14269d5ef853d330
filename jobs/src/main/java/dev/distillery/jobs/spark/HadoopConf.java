package dev.distillery.jobs.spark;

import dev.distillery.io.Storage;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import scala.Tuple2;

/**
 * The Hadoop configuration Distillery's own file access ({@link Storage#of(String)}) uses, taken from Spark so
 * that {@code spark.hadoop.*} settings (S3 endpoint, credentials) apply: {@link #install(SparkSession)} on the
 * driver, and in a task {@link #install()} of the copy the task was shipped with (serialised as Hadoop writes it).
 */
public final class HadoopConf implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final String SPARK_HADOOP = "spark.hadoop.";

  private transient Configuration conf;

  private HadoopConf(Configuration conf) {
    this.conf = conf;
  }

  /** Makes the session's Hadoop configuration this JVM's and returns it for shipping to tasks. */
  public static HadoopConf install(SparkSession spark) {
    HadoopConf shipped = new HadoopConf(spark.sparkContext().hadoopConfiguration());
    shipped.install();
    return shipped;
  }

  /**
   * For commands that run without a session: a default configuration plus the {@code spark.hadoop.*} settings
   * of {@code spark} (as Spark itself applies them), installed for this JVM.
   */
  public static void installWithoutSession(SparkConf spark) {
    Configuration conf = new Configuration();
    for (Tuple2<String, String> entry : spark.getAllWithPrefix(SPARK_HADOOP)) {
      conf.set(entry._1(), entry._2());
    }
    Storage.useConfiguration(conf);
  }

  /** Makes this configuration the one {@link Storage#of(String)} uses in this JVM (call first in a task). */
  public void install() {
    Storage.useConfiguration(conf);
  }

  private void writeObject(ObjectOutputStream out) throws IOException {
    out.defaultWriteObject();
    conf.write(out);
  }

  private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
    in.defaultReadObject();
    conf = new Configuration(false);
    conf.readFields(in);
  }
}
