package dev.distillery.jobs.calibrate;

import ai.djl.ndarray.types.DataType;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.preflight.Preflight;
import dev.distillery.jobs.spark.SparkSessions;
import java.io.PrintStream;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/** {@code distillery calibrate}: CalibrateJob. */
public final class CalibrateCommand implements Command {
  @Override
  public ConfigSchema schema() {
    return CalibrationSettings.SCHEMA;
  }

  @Override
  public void validate(Config config) {
    CalibrationSettings.from(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    CalibrationSettings settings = CalibrationSettings.from(config);
    SparkSession spark = SparkSessions.forJob("calibrate");
    if (config.get(Preflight.OPTION) && !settings.weightsOnly()) {
      String valid = Storage.resolve(new Path(settings.tokens()).getParent().toString(), "valid");
      Preflight.check(spark, "calibrate", settings.run(), settings.teacher(),
          settings.float16() ? DataType.FLOAT16 : DataType.FLOAT32, valid);
    }
    new CalibrateJob(spark, settings).run();
  }
}
