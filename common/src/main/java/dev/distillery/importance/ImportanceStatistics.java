package dev.distillery.importance;

import java.io.Serializable;

/**
 * Mergeable activation statistics of a teacher over calibration samples: per layer, moments of each attention
 * head's and MLP neuron's sequence-aggregated magnitude; moments of each hidden channel's magnitude summed over
 * every RMSNorm output; per layer the sum over tokens of {@code cos(h_in, h_out)}. Everything is a sum, so
 * statistics gathered on different executors {@link #merge} exactly (up to floating-point summation order).
 */
public final class ImportanceStatistics implements Serializable {
  private static final long serialVersionUID = 1L;

  private final Aggregation sequenceAggregation;
  private final UnitMoments[] heads;
  private final UnitMoments[] neurons;
  private final UnitMoments channels;
  private final double[] layerCosineSum;
  private long tokens;

  /** Empty statistics for a model of these dimensions. */
  public ImportanceStatistics(int layers, int heads, int neurons, int hiddenSize, Aggregation sequenceAggregation) {
    this.sequenceAggregation = sequenceAggregation;
    this.heads = new UnitMoments[layers];
    this.neurons = new UnitMoments[layers];
    for (int i = 0; i < layers; i++) {
      this.heads[i] = new UnitMoments(heads);
      this.neurons[i] = new UnitMoments(neurons);
    }
    this.channels = new UnitMoments(hiddenSize);
    this.layerCosineSum = new double[layers];
  }

  /** Adds {@code other} into this and returns this (for Spark's {@code treeReduce}). */
  public ImportanceStatistics merge(ImportanceStatistics other) {
    if (other.sequenceAggregation != sequenceAggregation || other.heads.length != heads.length) {
      throw new IllegalArgumentException("cannot merge statistics of different models or aggregations");
    }
    for (int i = 0; i < heads.length; i++) {
      heads[i].merge(other.heads[i]);
      neurons[i].merge(other.neurons[i]);
      layerCosineSum[i] += other.layerCosineSum[i];
    }
    channels.merge(other.channels);
    tokens += other.tokens;
    return this;
  }

  UnitMoments heads(int layer) {
    return heads[layer];
  }

  UnitMoments neurons(int layer) {
    return neurons[layer];
  }

  UnitMoments channels() {
    return channels;
  }

  void addLayerCosines(int layer, double cosineSum) {
    layerCosineSum[layer] += cosineSum;
  }

  void addTokens(long count) {
    tokens += count;
  }

  /** The sequence aggregation applied to each sample before these moments were taken. */
  public Aggregation sequenceAggregation() {
    return sequenceAggregation;
  }

  /** Calibration samples seen. */
  public long samples() {
    return channels.count();
  }

  /** Calibration tokens seen. */
  public long tokens() {
    return tokens;
  }

  public int layers() {
    return heads.length;
  }

  /** Per layer and head, the head's score aggregated over samples with {@code batch}. */
  public double[][] headScores(Aggregation batch) {
    double[][] scores = new double[heads.length][];
    for (int i = 0; i < heads.length; i++) {
      scores[i] = heads[i].aggregate(batch);
    }
    return scores;
  }

  /** Per layer and neuron, the neuron's score aggregated over samples with {@code batch}. */
  public double[][] neuronScores(Aggregation batch) {
    double[][] scores = new double[neurons.length][];
    for (int i = 0; i < neurons.length; i++) {
      scores[i] = neurons[i].aggregate(batch);
    }
    return scores;
  }

  /** Per hidden channel, its score aggregated over samples with {@code batch}. */
  public double[] channelScores(Aggregation batch) {
    return channels.aggregate(batch);
  }

  /** Block Importance per layer: {@code 1 − mean over tokens of cos(h_in, h_out)}. */
  public double[] blockImportance() {
    double[] scores = new double[layerCosineSum.length];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = tokens == 0 ? 0 : 1 - layerCosineSum[i] / tokens;
    }
    return scores;
  }
}
