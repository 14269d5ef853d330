package dev.distillery.importance;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import javax.imageio.ImageIO;

/**
 * A PNG of importance per layer for the run report, drawn headless with {@code java.awt}: a bar chart of the layer
 * scores (Block Importance, or the single-layer LM-loss rise when measured) above two heat strips, one row per layer,
 * of head and neuron importance (each row scaled to its own range; neurons averaged into bins).
 */
public final class ImportancePlot {
  private static final int WIDTH = 960;
  private static final int MARGIN = 50;
  private static final int BAR_HEIGHT = 180;
  private static final int ROW_HEIGHT = 10;
  private static final int NEURON_BINS = 256;

  private ImportancePlot() {}

  /** The plot as PNG bytes. */
  public static byte[] png(ImportanceScores scores) {
    System.setProperty("java.awt.headless", "true");
    int layers = scores.heads().length;
    int stripHeight = layers * ROW_HEIGHT;
    int height = MARGIN + BAR_HEIGHT + 2 * (MARGIN + stripHeight) + MARGIN / 2;
    BufferedImage image = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, WIDTH, height);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
      int top = MARGIN;
      drawLayerBars(g, scores, top);
      top += BAR_HEIGHT + MARGIN;
      drawStrip(g, "Attention head importance (rows: layers 0.." + (layers - 1) + ")", scores.heads(), top,
          Integer.MAX_VALUE);
      top += stripHeight + MARGIN;
      drawStrip(g, "MLP neuron importance (rows: layers; neurons in " + NEURON_BINS + " bins)", scores.neurons(), top,
          NEURON_BINS);
    } finally {
      g.dispose();
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static void drawLayerBars(Graphics2D g, ImportanceScores scores, int top) {
    double[] values;
    String title;
    if (scores.layerLoss() != null && scores.layerLoss().blocks().containsKey(1)) {
      values = scores.layerLoss().blocks().get(1);
      title = "LM-loss rise when the layer is skipped";
    } else if (scores.blockImportance() != null) {
      values = scores.blockImportance();
      title = "Block Importance (1 - mean cos(h_in, h_out))";
    } else {
      values = new double[scores.heads().length];
      title = "No layer scores (weight-magnitude importance)";
    }
    g.setColor(Color.BLACK);
    g.drawString(title, MARGIN, top - 10);
    double max = 1e-12;
    for (double v : values) {
      max = Math.max(max, Math.abs(v));
    }
    int plotWidth = WIDTH - 2 * MARGIN;
    double barWidth = (double) plotWidth / values.length;
    g.drawLine(MARGIN, top + BAR_HEIGHT, MARGIN + plotWidth, top + BAR_HEIGHT);
    for (int i = 0; i < values.length; i++) {
      int h = (int) Math.round(Math.abs(values[i]) / max * (BAR_HEIGHT - 5));
      int x = MARGIN + (int) Math.round(i * barWidth);
      g.setColor(values[i] >= 0 ? new Color(60, 110, 180) : new Color(200, 80, 60));
      g.fillRect(x + 1, top + BAR_HEIGHT - h, Math.max(1, (int) barWidth - 2), h);
      if (values.length <= 64) {
        g.setColor(Color.DARK_GRAY);
        g.drawString(Integer.toString(i), x + (int) barWidth / 2 - 4, top + BAR_HEIGHT + 14);
      }
    }
    g.setColor(Color.BLACK);
    g.drawString(String.format("max %.4g", max), WIDTH - MARGIN - 80, top - 10);
  }

  private static void drawStrip(Graphics2D g, String title, double[][] rows, int top, int maxBins) {
    g.setColor(Color.BLACK);
    g.drawString(title, MARGIN, top - 8);
    int plotWidth = WIDTH - 2 * MARGIN;
    for (int layer = 0; layer < rows.length; layer++) {
      double[] cells = binned(rows[layer], Math.min(maxBins, rows[layer].length));
      double min = Double.POSITIVE_INFINITY;
      double max = Double.NEGATIVE_INFINITY;
      for (double v : cells) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      double cellWidth = (double) plotWidth / cells.length;
      for (int c = 0; c < cells.length; c++) {
        double t = max > min ? (cells[c] - min) / (max - min) : 0.5;
        g.setColor(heat(t));
        int x = MARGIN + (int) Math.round(c * cellWidth);
        int w = Math.max(1, (int) Math.round((c + 1) * cellWidth) - (int) Math.round(c * cellWidth));
        g.fillRect(x, top + layer * ROW_HEIGHT, w, ROW_HEIGHT - 1);
      }
    }
  }

  private static double[] binned(double[] values, int bins) {
    double[] out = new double[bins];
    for (int b = 0; b < bins; b++) {
      int from = (int) ((long) b * values.length / bins);
      int to = (int) ((long) (b + 1) * values.length / bins);
      double sum = 0;
      for (int i = from; i < to; i++) {
        sum += values[i];
      }
      out[b] = sum / Math.max(1, to - from);
    }
    return out;
  }

  /** Dark blue (least important) through yellow (most important). */
  private static Color heat(double t) {
    float clamped = (float) Math.max(0, Math.min(1, t));
    return new Color(clamped, 0.2f + 0.7f * clamped, 0.5f * (1 - clamped) + 0.1f);
  }
}
