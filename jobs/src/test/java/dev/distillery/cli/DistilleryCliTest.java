package dev.distillery.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class DistilleryCliTest {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    return Distillery.standard().run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private String stdout() {
    return out.toString(StandardCharsets.UTF_8);
  }

  private String stderr() {
    return err.toString(StandardCharsets.UTF_8);
  }

  @Test
  void aFailureLogsItsStackTraceAtErrorAndPrintsOneLine() {
    org.apache.logging.log4j.core.Logger logger =
        (org.apache.logging.log4j.core.Logger) org.apache.logging.log4j.LogManager.getLogger(Distillery.class);
    java.io.StringWriter log = new java.io.StringWriter();
    org.apache.logging.log4j.core.appender.WriterAppender appender = org.apache.logging.log4j.core.appender
        .WriterAppender.newBuilder().setName("failure-log").setTarget(log)
        .setLayout(org.apache.logging.log4j.core.layout.PatternLayout.newBuilder().withPattern("%p %m%n%ex").build())
        .build();
    appender.start();
    logger.addAppender(appender);
    try {
      assertThat(run("inspect", "--model", "/no/such/checkpoint")).isEqualTo(Distillery.FAILED);
    } finally {
      logger.removeAppender(appender);
      appender.stop();
    }
    assertThat(stderr().strip()).doesNotContain("\n").contains("/no/such/checkpoint");
    assertThat(log.toString()).startsWith("ERROR distillery inspect failed").contains("\tat dev.distillery.");
  }

  @Test
  void helpListsEveryCommand() {
    assertThat(run("--help")).isZero();
    assertThat(stdout()).contains("inspect", "generate", "logits", "random-checkpoint", "tokenize", "docs");
  }

  @Test
  void noArgumentsIsAUsageError() {
    assertThat(run()).isEqualTo(Distillery.USAGE);
    assertThat(stdout()).startsWith("usage: distillery COMMAND");
  }

  @Test
  void commandHelpListsItsOptions() {
    assertThat(run("logits", "--help")).isZero();
    assertThat(stdout()).contains("--model <string>  (required)", "--tokens", "--out", "--device");
  }

  @Test
  void unknownCommandAndBadOptionsAreOneLineUsageErrors() {
    assertThat(run("distil")).isEqualTo(Distillery.USAGE);
    assertThat(stderr()).contains("unknown command 'distil'");
    err.reset();
    assertThat(run("inspect", "--modle", "x")).isEqualTo(Distillery.USAGE);
    assertThat(stderr()).contains("unknown option 'modle'", "did you mean 'model'?");
  }

  @Test
  void aFailingCommandExitsNonZeroWithTheReason() {
    assertThat(run("inspect", "--model", "/no/such/checkpoint")).isEqualTo(Distillery.FAILED);
    assertThat(stderr()).startsWith("distillery inspect: error: ").contains("/no/such/checkpoint");
    assertThat(stderr().strip().lines().count()).isEqualTo(1);
  }

  @Test
  void docsCoverEveryCommandsOptions() {
    assertThat(run("docs")).isZero();
    assertThat(stdout()).contains("## `inspect`", "## `random-checkpoint`", "`max-shard-bytes`");
  }
}
