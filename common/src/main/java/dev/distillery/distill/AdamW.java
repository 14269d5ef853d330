package dev.distillery.distill;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * AdamW (Loshchilov &amp; Hutter): Adam moments with bias correction and weight decay decoupled from the gradient,
 * applied to matrices only (norm weights and other vectors are not decayed). Moments live in a manager this
 * optimizer owns, on the parameters' device, in float32: one per parameter, or, for a sharded optimizer, one per
 * {@link OptimizerShard.Piece} of this replica's shard (named by {@link OptimizerShard.Piece#key()}).
 */
public final class AdamW implements AutoCloseable {
  /** Hyper-parameters; the learning rate comes with each step. */
  public record Settings(double beta1, double beta2, double epsilon, double weightDecay) {
    public Settings {
      if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) {
        throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
      }
      if (!(epsilon > 0) || weightDecay < 0) {
        throw new IllegalArgumentException("epsilon must be > 0 and weight decay >= 0");
      }
    }
  }

  private final Settings settings;
  private final NDManager manager;
  private final Map<String, NDArray> firstMoment = new LinkedHashMap<>();
  private final Map<String, NDArray> secondMoment = new LinkedHashMap<>();
  private final Set<String> decayed = new HashSet<>();
  private final OptimizerShard shard;
  private long steps;

  /** Zero moments for {@code parameters}. */
  public AdamW(Map<String, NDArray> parameters, Settings settings) {
    this.settings = settings;
    this.shard = null;
    NDArray any = parameters.values().iterator().next();
    this.manager = NDManager.newBaseManager(any.getDevice());
    for (Map.Entry<String, NDArray> p : parameters.entrySet()) {
      addMoments(p.getKey(), p.getValue().getShape(), p.getValue().getShape().dimension() >= 2);
    }
  }

  /** Zero moments for this replica's {@code shard} of the parameters, on {@code device}. */
  public AdamW(OptimizerShard shard, Device device, Settings settings) {
    this.settings = settings;
    this.shard = shard;
    this.manager = NDManager.newBaseManager(device);
    for (OptimizerShard.Piece piece : shard.pieces()) {
      addMoments(piece.key(), new Shape(piece.length()), piece.decayed());
    }
  }

  private void addMoments(String key, Shape shape, boolean decay) {
    firstMoment.put(key, manager.zeros(shape));
    secondMoment.put(key, manager.zeros(shape));
    if (decay) {
      decayed.add(key);
    }
  }

  /** The shard this optimizer keeps the state of, or null when it keeps all of it. */
  public OptimizerShard shard() {
    return shard;
  }

  /** Bytes of optimizer state held (both moments). */
  public long stateBytes() {
    long floats = 0;
    for (NDArray m : firstMoment.values()) {
      floats += m.size();
    }
    return 2 * floats * Float.BYTES;
  }

  /**
   * Updates {@code parameters} in place from {@code gradients} (same names), without recording a graph. The names
   * are the moments' (for a sharded optimizer, the pieces' keys, the arrays flat pieces of the parameters).
   *
   * @param learningRate this step's learning rate
   */
  public void step(Map<String, NDArray> parameters, Map<String, NDArray> gradients, double learningRate) {
    steps++;
    double stepSize = learningRate / (1 - Math.pow(settings.beta1(), steps));
    double secondCorrection = 1 - Math.pow(settings.beta2(), steps);
    try (Autograd.Scope off = Autograd.pause()) {
      for (Map.Entry<String, NDArray> p : parameters.entrySet()) {
        update(p.getValue(), gradients.get(p.getKey()), firstMoment.get(p.getKey()),
            secondMoment.get(p.getKey()), decayed.contains(p.getKey()), learningRate, stepSize, secondCorrection);
      }
    }
  }

  /**
   * One parameter's update. Every operand is attached to a scratch manager for the duration, so each temporary
   * (whichever operand's manager it would otherwise land in) is freed before the next parameter.
   */
  private void update(NDArray parameter, NDArray gradient, NDArray m, NDArray v, boolean decay, double learningRate,
      double stepSize, double secondCorrection) {
    double b1 = settings.beta1();
    double b2 = settings.beta2();
    try (NDManager scratch = manager.newSubManager()) {
      for (NDArray operand : new NDArray[] {parameter, gradient, m, v}) {
        operand.tempAttach(scratch);
      }
      m.muli((float) b1).addi(gradient.mul((float) (1 - b1)));
      v.muli((float) b2).addi(gradient.square().muli((float) (1 - b2)));
      if (decay && settings.weightDecay() > 0) {
        parameter.muli((float) (1 - learningRate * settings.weightDecay()));
      }
      NDArray denominator = v.div((float) secondCorrection).sqrt().addi((float) settings.epsilon());
      NDArray update = m.div(denominator).muli((float) stepSize);
      parameter.subi(update.toType(parameter.getDataType(), false));
    }
  }

  /** Arrays alive in this optimizer's manager (the moments, and anything a step failed to free). */
  int liveArrays() {
    return manager.getManagedArrays().size();
  }

  /** Steps taken so far (the bias-correction exponent). */
  public long steps() {
    return steps;
  }

  /** The moments by parameter name, for checkpoints. */
  public Map<String, NDArray> firstMoments() {
    return firstMoment;
  }

  /** The second moments by parameter name, for checkpoints. */
  public Map<String, NDArray> secondMoments() {
    return secondMoment;
  }

  /** Restores moments and the step count saved by a checkpoint. */
  public void restore(long savedSteps, Map<String, float[]> first, Map<String, float[]> second) {
    restore(savedSteps, (moment, name) -> require(moment == 'm' ? first : second, name));
  }

  /** Reads one saved moment: {@code moment} is 'm' or 'v', {@code name} a parameter's or a piece's key. */
  public interface MomentReader {
    float[] read(char moment, String name);
  }

  /** Restores the step count and every moment, reading one at a time (so one moment is in the heap at once). */
  public void restore(long savedSteps, MomentReader saved) {
    for (String name : firstMoment.keySet()) {
      firstMoment.get(name).set(saved.read('m', name));
      secondMoment.get(name).set(saved.read('v', name));
    }
    this.steps = savedSteps;
  }

  private static float[] require(Map<String, float[]> saved, String name) {
    float[] values = saved.get(name);
    if (values == null) {
      throw new IllegalArgumentException("optimizer state has no moment for parameter " + name);
    }
    return values;
  }

  @Override
  public void close() {
    manager.close();
  }
}
