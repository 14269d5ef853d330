package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TailSamplerTest {
  /** A 40-id distribution whose top 4 are removed: a tail of 36 ids of unequal probability. */
  private static final int VOCAB = 40;
  private static final long[] TOP = {0, 1, 2, 3};

  private static float[] distribution() {
    float[] p = new float[VOCAB];
    double total = 0;
    for (int i = 0; i < VOCAB; i++) {
      p[i] = (float) Math.exp(-0.12 * i);
      total += p[i];
    }
    for (int i = 0; i < VOCAB; i++) {
      p[i] /= (float) total;
    }
    return p;
  }

  @Test
  void drawnWeightsEstimateTheTailWithoutBiasAndShareItsMassExactly() {
    float[] p = distribution();
    float[] tail = p.clone();
    double tailMass = 0;
    for (int i = 0; i < VOCAB; i++) {
      if (i < TOP.length) {
        tail[i] = 0;
      }
      tailMass += tail[i];
    }
    int draws = 30_000;
    int m = 6;
    double[] mean = new double[VOCAB];
    try (NDManager manager = NDManager.newBaseManager()) {
      Engine.getInstance().setRandomSeed(7);
      // one row per draw: the same distribution, independent uniforms
      float[] rows = new float[draws * VOCAB];
      long[] top = new long[draws * TOP.length];
      float[] mass = new float[draws];
      for (int d = 0; d < draws; d++) {
        System.arraycopy(tail, 0, rows, d * VOCAB, VOCAB);
        System.arraycopy(TOP, 0, top, d * TOP.length, TOP.length);
        mass[d] = (float) tailMass;
      }
      NDList drawn = TailSampler.sample(manager.create(rows, new Shape(draws, VOCAB)),
          manager.create(top, new Shape(draws, TOP.length)), manager.create(mass), m, manager);
      long[] ids = drawn.get(0).toLongArray();
      float[] weights = drawn.get(1).exp().toFloatArray();
      for (int d = 0; d < draws; d++) {
        Set<Long> seen = new HashSet<>();
        double sum = 0;
        for (int j = 0; j < m; j++) {
          long id = ids[d * m + j];
          assertThat(id).as("draw %d", d).isGreaterThanOrEqualTo(TOP.length); // never a top-k id
          assertThat(seen.add(id)).as("draw %d: ids distinct", d).isTrue();
          mean[(int) id] += weights[d * m + j] / draws;
          sum += weights[d * m + j];
        }
        assertThat(sum).isCloseTo(tailMass, within(1e-4)); // float32 weights, through log and exp
      }
      assertThat(drawn.get(0).getShape()).isEqualTo(new Shape(draws, m));
    }
    for (int i = TOP.length; i < VOCAB; i++) {
      // each id's mean weight is its probability, within 20%: sampling noise over 30,000 draws (up to about 10%)
      // and the bias of scaling the weights to the exact tail mass (up to about 7% here, in numpy over 20,000
      // draws). Weights without the threshold (p_i alone) fall short by the inclusion probability: about 85% for
      // the least likely ids here (p ranges over a factor of 67).
      assertThat(mean[i]).as("id %d (p %.4f)", i, p[i]).isCloseTo(p[i], within(0.2 * p[i] + 1e-4));
    }
  }
}
