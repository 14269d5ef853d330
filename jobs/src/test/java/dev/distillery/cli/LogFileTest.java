package dev.distillery.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.jobs.spark.ForkedDistillery;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's logging (conf/log4j2.properties merged with conf/log4j2-cli.properties, as submit-scripts/distillery
 * sets it): a failed command prints one line on the console, naming the log file, which holds the stack trace.
 */
class LogFileTest {
  @Test
  void aFailedCommandPrintsOneLineAndLeavesItsStackTraceInTheLogFile(@TempDir Path dir) throws Exception {
    Path conf = Path.of("../conf").toAbsolutePath().normalize();
    Path logFile = dir.resolve("logs/distillery.log");
    Path console = dir.resolve("console.txt");
    int status = ForkedDistillery.run(List.of("-Xmx512m", "-Dlog4j2.configurationFile=" + conf.resolve(
        "log4j2.properties") + "," + conf.resolve("log4j2-cli.properties"), "-Ddistillery.logFile=" + logFile),
        List.of("inspect", "--model", dir.resolve("no-such-checkpoint").toString()), console, 2);
    String output = Files.readString(console);
    assertThat(status).as(output).isEqualTo(Distillery.FAILED);
    assertThat(output.lines().filter(l -> l.contains("error"))).containsExactly("distillery inspect: error: "
        + dir.resolve("no-such-checkpoint") + ": no config.json; not a Hugging Face checkpoint (stack trace in "
        + logFile + ")");
    assertThat(output).doesNotContain("\tat ", "Exception");
    assertThat(Files.readString(logFile)).contains("distillery inspect failed", "IllegalArgumentException",
        "\tat dev.distillery.io.CheckpointReader.open");
  }
}
