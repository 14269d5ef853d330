package dev.distillery.importance;

import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import dev.distillery.model.WeightSource;
import java.util.Map;

/**
 * Calibration-free importance: the L2 norm of the weights that belong to each unit. A query head owns its
 * {@code head_dim} rows of {@code q_proj} and columns of {@code o_proj}; a neuron its row of {@code gate_proj} and
 * {@code up_proj} and its column of {@code down_proj}; a hidden channel its column of the embedding, {@code lm_head}
 * and every projection reading the residual stream, and its row of {@code o_proj} and {@code down_proj}.
 */
public final class WeightImportance {
  private WeightImportance() {}

  /** Reads every tensor once from {@code weights} and scores the units of {@code config}. */
  public static ImportanceScores compute(LlamaConfig config, WeightSource weights, String teacherPath,
      String teacherSha256) {
    Map<String, long[]> shapes = LlamaTensors.expectedShapes(config);
    int layers = config.numHiddenLayers();
    int headDim = config.headDim();
    double[][] heads = new double[layers][config.numAttentionHeads()];
    double[][] neurons = new double[layers][config.intermediateSize()];
    double[] channels = new double[config.hiddenSize()];
    addColumns(channels, read(weights, shapes, LlamaTensors.EMBED), config.hiddenSize(), 1);
    if (!config.tieWordEmbeddings()) {
      addColumns(channels, read(weights, shapes, LlamaTensors.LM_HEAD), config.hiddenSize(), 1);
    }
    for (int i = 0; i < layers; i++) {
      float[] q = read(weights, shapes, LlamaTensors.q(i));
      addRows(heads[i], q, config.hiddenSize(), headDim);
      addColumns(channels, q, config.hiddenSize(), 1);
      addColumns(channels, read(weights, shapes, LlamaTensors.k(i)), config.hiddenSize(), 1);
      addColumns(channels, read(weights, shapes, LlamaTensors.v(i)), config.hiddenSize(), 1);
      float[] o = read(weights, shapes, LlamaTensors.o(i));
      addColumns(heads[i], o, config.qDim(), headDim);
      addRows(channels, o, config.qDim(), 1);
      float[] gate = read(weights, shapes, LlamaTensors.gate(i));
      addRows(neurons[i], gate, config.hiddenSize(), 1);
      addColumns(channels, gate, config.hiddenSize(), 1);
      float[] up = read(weights, shapes, LlamaTensors.up(i));
      addRows(neurons[i], up, config.hiddenSize(), 1);
      addColumns(channels, up, config.hiddenSize(), 1);
      float[] down = read(weights, shapes, LlamaTensors.down(i));
      addColumns(neurons[i], down, config.intermediateSize(), 1);
      addRows(channels, down, config.intermediateSize(), 1);
      sqrtInPlace(heads[i]);
      sqrtInPlace(neurons[i]);
    }
    sqrtInPlace(channels);
    CalibrationInfo info = new CalibrationInfo(CalibrationInfo.WEIGHTS, teacherPath, teacherSha256, config, 0, 0,
        null, null);
    return new ImportanceScores(info, heads, neurons, channels, null, null);
  }

  private static float[] read(WeightSource weights, Map<String, long[]> shapes, String name) {
    return weights.read(name, shapes.get(name));
  }

  /** Adds the squares of each row of {@code matrix} ({@code columns} wide) to unit {@code row / rowsPerUnit}. */
  private static void addRows(double[] units, float[] matrix, int columns, int rowsPerUnit) {
    for (int r = 0; r < matrix.length / columns; r++) {
      double sum = 0;
      for (int c = 0; c < columns; c++) {
        double v = matrix[r * columns + c];
        sum += v * v;
      }
      units[r / rowsPerUnit] += sum;
    }
  }

  /** Adds the squares of each column of {@code matrix} ({@code columns} wide) to unit {@code column / perUnit}. */
  private static void addColumns(double[] units, float[] matrix, int columns, int columnsPerUnit) {
    for (int i = 0; i < matrix.length; i++) {
      double v = matrix[i];
      units[(i % columns) / columnsPerUnit] += v * v;
    }
  }

  private static void sqrtInPlace(double[] values) {
    for (int i = 0; i < values.length; i++) {
      values[i] = Math.sqrt(values[i]);
    }
  }
}
