package dev.distillery.jobs.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/** A small line chart drawn with headless java.awt and encoded as PNG (no display needed). */
final class LineChart {
  private static final int WIDTH = 900;
  private static final int HEIGHT = 480;
  private static final int LEFT = 70;
  private static final int RIGHT = 190;
  private static final int TOP = 40;
  private static final int BOTTOM = 50;
  private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
      new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b)};

  /** One line: its label, points (x ascending) and whether it is dashed with markers. */
  record Series(String label, double[] x, double[] y, boolean dashed, int colorIndex) {}

  private final String title;
  private final String xLabel;
  private final String yLabel;
  private final List<Series> series = new ArrayList<>();

  LineChart(String title, String xLabel, String yLabel) {
    this.title = title;
    this.xLabel = xLabel;
    this.yLabel = yLabel;
  }

  LineChart add(Series s) {
    series.add(s);
    return this;
  }

  /** The chart as PNG bytes. */
  byte[] png() {
    System.setProperty("java.awt.headless", "true");
    BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, WIDTH, HEIGHT);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    double[] bounds = bounds();
    drawAxes(g, bounds);
    int legendY = TOP + 10;
    for (Series s : series) {
      Color color = PALETTE[s.colorIndex() % PALETTE.length];
      g.setColor(color);
      g.setStroke(s.dashed() ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 1f,
          new float[] {6f, 4f}, 0f) : new BasicStroke(1.5f));
      for (int i = 0; i < s.x().length; i++) {
        int px = px(s.x()[i], bounds);
        int py = py(s.y()[i], bounds);
        if (i > 0) {
          g.drawLine(px(s.x()[i - 1], bounds), py(s.y()[i - 1], bounds), px, py);
        }
        if (s.dashed()) {
          g.fillOval(px - 3, py - 3, 6, 6);
        }
      }
      g.drawLine(WIDTH - RIGHT + 15, legendY - 4, WIDTH - RIGHT + 40, legendY - 4);
      g.setColor(Color.BLACK);
      g.drawString(s.label(), WIDTH - RIGHT + 45, legendY);
      legendY += 18;
    }
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
    g.drawString(title, LEFT, TOP - 15);
    g.dispose();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", bytes);
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode PNG", e);
    }
    return bytes.toByteArray();
  }

  /** {@code [xMin, xMax, yMin, yMax]} over every series, padded so flat data still has a range. */
  private double[] bounds() {
    double[] b = {Double.MAX_VALUE, -Double.MAX_VALUE, Double.MAX_VALUE, -Double.MAX_VALUE};
    for (Series s : series) {
      for (int i = 0; i < s.x().length; i++) {
        b[0] = Math.min(b[0], s.x()[i]);
        b[1] = Math.max(b[1], s.x()[i]);
        b[2] = Math.min(b[2], s.y()[i]);
        b[3] = Math.max(b[3], s.y()[i]);
      }
    }
    if (b[0] > b[1]) {
      return new double[] {0, 1, 0, 1};
    }
    if (b[1] - b[0] < 1e-9) {
      b[1] = b[0] + 1;
    }
    double pad = Math.max((b[3] - b[2]) * 0.05, 1e-3);
    return new double[] {b[0], b[1], b[2] - pad, b[3] + pad};
  }

  private void drawAxes(Graphics2D g, double[] b) {
    g.setColor(Color.BLACK);
    g.drawRect(LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    for (int i = 0; i <= 5; i++) {
      double x = b[0] + (b[1] - b[0]) * i / 5;
      double y = b[2] + (b[3] - b[2]) * i / 5;
      g.setColor(new Color(0xdddddd));
      g.drawLine(LEFT, py(y, b), WIDTH - RIGHT, py(y, b));
      g.setColor(Color.BLACK);
      g.drawString(String.format("%.0f", x), px(x, b) - 10, HEIGHT - BOTTOM + 18);
      g.drawString(String.format("%.2f", y), LEFT - 45, py(y, b) + 4);
    }
    g.drawString(xLabel, LEFT + (WIDTH - LEFT - RIGHT) / 2 - 20, HEIGHT - 12);
    g.drawString(yLabel, 8, TOP - 4);
  }

  private static int px(double x, double[] b) {
    return LEFT + (int) Math.round((x - b[0]) / (b[1] - b[0]) * (WIDTH - LEFT - RIGHT));
  }

  private static int py(double y, double[] b) {
    return HEIGHT - BOTTOM - (int) Math.round((y - b[2]) / (b[3] - b[2]) * (HEIGHT - TOP - BOTTOM));
  }
}
