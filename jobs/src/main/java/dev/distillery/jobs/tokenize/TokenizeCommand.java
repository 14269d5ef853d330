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
    return TokenizeSettings.SCHEMA;
  }

  @Override
  public void validate(Config config) {
    TokenizeSettings.from(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    TokenizeSettings settings = TokenizeSettings.from(config);
    TokenizeResult result = new TokenizeJob(SparkSessions.forJob("tokenize"), settings).run();
    out.println(result.summary());
  }
}
