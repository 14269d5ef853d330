package dev.distillery.jobs.spark;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.io.Storage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class HadoopConfTest {
  private static final String KEY = "distillery.test.hadoop-conf";

  @AfterEach
  void restore() {
    HadoopConf.install(SharedSpark.session());
  }

  @Test
  void aTaskInstallsTheSessionSettingsItWasShippedWith() throws Exception {
    SharedSpark.session().sparkContext().hadoopConfiguration().set(KEY, "from-the-session");
    try {
      HadoopConf shipped = HadoopConf.install(SharedSpark.session());
      assertThat(Storage.configuration().get(KEY)).isEqualTo("from-the-session");
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
        out.writeObject(shipped);
      }
      Storage.useConfiguration(null);
      assertThat(Storage.configuration().get(KEY)).as("a fresh executor JVM").isNull();
      try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
        ((HadoopConf) in.readObject()).install();
      }
      assertThat(Storage.configuration().get(KEY)).isEqualTo("from-the-session");
    } finally {
      SharedSpark.session().sparkContext().hadoopConfiguration().unset(KEY);
    }
  }

  @Test
  void withoutASessionTheSparkHadoopSettingsApply() {
    HadoopConf.installWithoutSession(new SparkConf(false).set("spark.hadoop." + KEY, "from-spark-conf")
        .set("spark.other", "x"));
    assertThat(Storage.configuration().get(KEY)).isEqualTo("from-spark-conf");
    assertThat(Storage.configuration().get("spark.other")).isNull();
  }
}
