package dev.distillery.jobs.tokenize;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.spark.SparkSessions;
import java.io.PrintStream;

/** {@code distillery tokenize}: runs {@link TokenizeJob} in this JVM's Spark session. */
public final class TokenizeCommand implements Command {
  @Override
  public ConfigSchema schema() {
    return TokenizeOptions.SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) {
    TokenizeResult result = new TokenizeJob(SparkSessions.forJob("tokenize"), config).run();
    out.println(result.summary());
  }
}
