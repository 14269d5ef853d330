package dev.distillery.jobs.report;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.jobs.evaluate.Evaluation;
import dev.distillery.jobs.run.RunLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The report is committed, and every image the HTML references exists and decodes. */
class RunReportTest {
  @Test
  void htmlReferencesPngsThatExistAndDecode(@TempDir Path run) throws IOException {
    Files.createDirectories(run.resolve("metrics"));
    Files.writeString(run.resolve("metrics/distill.jsonl"), "{\"step\":1,\"loss\":5.0}\n"
        + "{\"step\":2,\"loss\":4.0,\"val_loss\":4.5}\n{\"step\":3,\"loss\":3.5,\"val_loss\":4.1}\n");
    Files.writeString(run.resolve("metrics/scratch.jsonl"), "{\"step\":1,\"loss\":7.0,\"val_loss\":7.1}\n"
        + "{\"step\":2,\"loss\":6.0,\"val_loss\":6.5}\n");
    Files.createDirectories(run.resolve("eval"));
    for (String name : List.of("scratch", "teacher", "distilled")) {
      Evaluation e = new Evaluation(name, "/ckpt/" + name, 1000, "valid", 4.0, Math.exp(4.0), 120, 10, 0.5,
          List.of(new Evaluation.Generation("The <b>", "x & y")));
      Files.writeString(Path.of(new RunLayout(run.toString()).evaluation(name)), e.toJson());
    }
    Files.createDirectories(run.resolve("preflight"));
    Files.writeString(run.resolve("preflight/calibrate.json"), "{\"stage\":\"calibrate\",\"rows\":4,\"tokens\":"
        + "1020,\"loss\":2.5,\"bos_loss\":2.25,\"log_vocab\":4.5643,\"passed\":true}");
    Files.writeString(run.resolve("preflight/distill.json"), "{\"stage\":\"distill\",\"rows\":4,\"tokens\":"
        + "1020,\"loss\":2.5,\"bos_loss\":null,\"bos_check_skipped\":\"rows start with BOS\",\"log_vocab\":"
        + "4.5643,\"passed\":true}");
    Files.writeString(run.resolve("prune-plan.md"), "| | teacher | student | student / teacher |\n"
        + "|---|---:|---:|---:|\n| layers | 4 | 4 | 1.000 |\n");

    String index = new RunReport(run.toString()).write();

    Path report = run.resolve("report");
    assertThat(Path.of(index)).isEqualTo(report.resolve("index.html"));
    assertThat(report.resolve("_COMMITTED")).exists();
    String html = Files.readString(report.resolve("index.html"));
    Matcher images = Pattern.compile("<img src=\"([^\"]+)\"").matcher(html);
    int count = 0;
    while (images.find()) {
      Path png = report.resolve(images.group(1));
      assertThat(png).exists();
      assertThat(ImageIO.read(png.toFile())).as(images.group(1)).isNotNull();
      count++;
    }
    assertThat(count).isEqualTo(2);
    assertThat(html).contains("<td>layers</td>", "x &amp; y", "The &lt;b&gt;");
    assertThat(html).contains("<h2>Teacher preflight</h2>",
        "<tr><td>calibrate</td><td>4</td><td>1020</td><td>2.5000</td><td>2.2500</td><td>4.5643</td><td>passed</td>",
        "<td>rows start with BOS</td>");
    String quality = html.substring(html.indexOf("<h2>Quality"));
    assertThat(quality.indexOf("<td>teacher</td>")).isLessThan(quality.indexOf("<td>distilled</td>"));
    assertThat(quality.indexOf("<td>distilled</td>")).isLessThan(quality.indexOf("<td>scratch</td>"));
  }
}
