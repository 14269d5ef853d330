package dev.distillery.jobs.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.jobs.evaluate.Evaluation;
import dev.distillery.jobs.preflight.Preflight;
import dev.distillery.jobs.run.RunLayout;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The report of one run directory: what each stage left behind, as an HTML page with PNG charts. Sections whose
 * inputs are missing say so instead of failing, so a report can be made at any point of a run.
 */
final class RunReport {
  static final String INDEX = "index.html";
  private static final Logger LOG = LoggerFactory.getLogger(RunReport.class);
  private static final List<String> QUALITY_ORDER = List.of("teacher", "pruned", "distilled", "scratch");
  private static final String STYLE = "body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
      + "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
      + "td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}"
      + ".muted{color:#777}";

  private final String run;
  private final RunLayout layout;
  private final Storage storage;

  RunReport(String run) {
    this.run = run;
    this.layout = new RunLayout(run);
    this.storage = Storage.of(run);
  }

  /** Writes RUN/report (replacing an earlier one) and returns the index page's path. */
  String write() {
    String target = layout.report();
    try (StagedDirectory staged = storage.stage(target, true)) {
      StringBuilder html = new StringBuilder("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Distillery "
          + "report</title><style>" + STYLE + "</style></head><body>\n<h1>Distillery report</h1>\n<p class=\"muted\">"
          + escape(storage.qualify(run)) + "</p>\n");
      lossSection(html, staged);
      qualitySection(html);
      preflightSection(html);
      architectureSection(html);
      importanceSection(html, staged);
      html.append("</body></html>\n");
      storage.writeText(staged.file(INDEX), html.toString());
      staged.commit();
    }
    String index = Storage.resolve(target, INDEX);
    LOG.info("report: wrote {}", index);
    return index;
  }

  private void lossSection(StringBuilder html, StagedDirectory staged) {
    html.append("<h2>Training and validation loss</h2>\n");
    List<TrainingCurve> curves = curves();
    if (curves.isEmpty()) {
      html.append("<p class=\"muted\">No training metrics (RUN/metrics/*.jsonl) yet.</p>\n");
      return;
    }
    LineChart valid = new LineChart("Validation loss (next-token cross-entropy, comparable across runs)", "step",
        "loss (nats)");
    LineChart train = new LineChart("Training loss (each run's own objective: CE, or KL for distillation)", "step",
        "loss (nats)");
    for (int i = 0; i < curves.size(); i++) {
      TrainingCurve c = curves.get(i);
      train.add(new LineChart.Series(c.name(), c.steps(), c.losses(), false, i));
      if (c.validSteps().length > 0) {
        valid.add(new LineChart.Series(c.name(), c.validSteps(), c.validLosses(), true, i));
      }
    }
    writeBytes(staged.file("loss-valid.png"), valid.png());
    writeBytes(staged.file("loss-train.png"), train.png());
    html.append("<img src=\"loss-valid.png\" alt=\"validation loss\">\n<img src=\"loss-train.png\" "
        + "alt=\"training loss\">\n<table><tr><th>training run</th>"
        + "<th>steps</th><th>final training loss</th><th>final validation loss</th></tr>\n");
    for (TrainingCurve c : curves) {
      html.append(String.format("<tr><td>%s</td><td>%d</td><td>%s</td><td>%s</td></tr>%n", escape(c.name()),
          c.steps().length, c.losses().length == 0 ? "" : String.format("%.4f", c.losses()[c.losses().length - 1]),
          Double.isNaN(c.finalValidLoss()) ? "" : String.format("%.4f", c.finalValidLoss())));
    }
    html.append("</table>\n");
  }

  private List<TrainingCurve> curves() {
    List<TrainingCurve> curves = new ArrayList<>();
    for (String file : files(layout.metricsDir(), ".jsonl")) {
      String name = new Path(file).getName().replaceFirst("\\.jsonl$", "");
      curves.add(TrainingCurve.parse(name, storage.readText(file), file));
    }
    return curves;
  }

  private void qualitySection(StringBuilder html) {
    html.append("<h2>Quality on the validation split</h2>\n");
    List<Evaluation> evaluations = new ArrayList<>();
    for (String file : files(layout.evalDir(), ".json")) {
      evaluations.add(Evaluation.fromJson(storage.readText(file), file));
    }
    if (evaluations.isEmpty()) {
      html.append("<p class=\"muted\">No evaluations (RUN/eval/*.json) yet.</p>\n");
      return;
    }
    evaluations.sort(Comparator.comparingInt((Evaluation e) -> QUALITY_ORDER.contains(e.name())
        ? QUALITY_ORDER.indexOf(e.name()) : QUALITY_ORDER.size()).thenComparing(Evaluation::name));
    html.append("<table><tr><th>model</th><th>parameters</th><th>loss</th><th>perplexity</th><th>tokens</th>"
        + "<th>checkpoint</th></tr>\n");
    for (Evaluation e : evaluations) {
      html.append(String.format("<tr><td>%s</td><td>%,d</td><td>%.4f</td><td>%.2f</td><td>%,d</td><td>%s</td></tr>%n",
          escape(e.name()), e.parameters(), e.loss(), e.perplexity(), e.targetTokens(), escape(e.checkpoint())));
    }
    html.append("</table>\n");
    for (Evaluation e : evaluations) {
      if (!e.generations().isEmpty()) {
        html.append("<h3>Greedy generations: ").append(escape(e.name())).append("</h3>\n<ul>\n");
        e.generations().forEach(g -> html.append("<li><b>").append(escape(g.prompt())).append("</b> ")
            .append(escape(g.text())).append("</li>\n"));
        html.append("</ul>\n");
      }
    }
  }

  private void preflightSection(StringBuilder html) {
    List<String> files = files(Storage.resolve(run, Preflight.DIR), ".json");
    if (files.isEmpty()) {
      return;
    }
    html.append("<h2>Teacher preflight</h2>\n<table><tr><th>stage</th><th>rows</th><th>tokens</th><th>loss</th>"
        + "<th>loss with BOS</th><th>log(vocab)</th><th>result</th></tr>\n");
    for (String file : files) {
      JsonNode p = json(file);
      html.append(String.format("<tr><td>%s</td><td>%d</td><td>%d</td><td>%.4f</td><td>%s</td><td>%.4f</td>"
          + "<td>%s</td></tr>%n", escape(p.path("stage").asText()), p.path("rows").asInt(), p.path("tokens").asLong(),
          p.path("loss").asDouble(), p.path("bos_loss").isNumber() ? String.format("%.4f", p.path("bos_loss").asDouble())
              : escape(p.path("bos_check_skipped").asText()),
          p.path("log_vocab").asDouble(), p.path("passed").asBoolean() ? "passed" : "failed"));
    }
    html.append("</table>\n");
  }

  private JsonNode json(String file) {
    try {
      return new ObjectMapper().readTree(storage.readText(file));
    } catch (IOException e) {
      throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
    }
  }

  private void architectureSection(StringBuilder html) {
    html.append("<h2>Architecture before and after pruning</h2>\n");
    String table = layout.sizeTable();
    if (!storage.exists(table)) {
      html.append("<p class=\"muted\">No prune plan (RUN/prune-plan.md) yet.</p>\n");
      return;
    }
    html.append(markdownTable(storage.readText(table)));
  }

  private void importanceSection(StringBuilder html, StagedDirectory staged) {
    html.append("<h2>Importance per layer</h2>\n");
    String plot = layout.importancePlot();
    if (!storage.exists(plot)) {
      html.append("<p class=\"muted\">No importance plot (RUN/importance/importance.png) yet.</p>\n");
      return;
    }
    storage.copyFrom(storage, plot, staged.file("importance.png"));
    html.append("<img src=\"importance.png\" alt=\"importance per layer\">\n");
  }

  /** The rows of a Markdown table as an HTML table (the separator row dropped). */
  static String markdownTable(String markdown) {
    StringBuilder sb = new StringBuilder("<table>\n");
    boolean header = true;
    for (String line : markdown.split("\n")) {
      String trimmed = line.trim();
      if (!trimmed.startsWith("|") || trimmed.matches("[|:\\-\\s]+")) {
        continue;
      }
      String cell = header ? "th" : "td";
      sb.append("<tr>");
      for (String value : trimmed.substring(1, trimmed.length() - (trimmed.endsWith("|") ? 1 : 0)).split("\\|")) {
        sb.append('<').append(cell).append('>').append(escape(value.trim())).append("</").append(cell).append('>');
      }
      sb.append("</tr>\n");
      header = false;
    }
    return sb.append("</table>\n").toString();
  }

  private List<String> files(String dir, String suffix) {
    if (!storage.exists(dir)) {
      return List.of();
    }
    return storage.list(dir).stream().filter(f -> f.endsWith(suffix) && !new Path(f).getName().startsWith("."))
        .toList();
  }

  private void writeBytes(String path, byte[] bytes) {
    try (OutputStream out = storage.create(path, true)) {
      out.write(bytes);
    } catch (IOException e) {
      throw new IllegalStateException("cannot write " + path + ": " + e.getMessage(), e);
    }
  }

  static String escape(String text) {
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
