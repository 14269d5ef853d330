package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.Scalars;
import dev.distillery.model.TapPoint;
import dev.distillery.model.Taps;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Cosine loss between intermediate hidden states: for each mapped pair (student layer → teacher layer), the mean over
 * real tokens (padding left out) of {@code 1 − cos(h_student, h_teacher)} of the two layers' outputs, averaged over
 * the pairs and weighted.
 * Minitron found it helps only for heavy depth pruning; it needs equal hidden sizes (a depth-pruned student).
 */
public final class HiddenStateLoss {
  private final double weight;
  private final Map<Integer, Integer> studentToTeacher;

  /**
   * @param studentToTeacher student layer index → teacher layer index whose output it should match
   */
  public HiddenStateLoss(double weight, Map<Integer, Integer> studentToTeacher) {
    if (!(weight > 0) || studentToTeacher.isEmpty()) {
      throw new IllegalArgumentException("hidden-state loss needs a weight > 0 and at least one layer pair");
    }
    this.weight = weight;
    this.studentToTeacher = new TreeMap<>(studentToTeacher);
  }

  /**
   * Parses a layer map such as {@code "0:0,1:2,15:31"} (student:teacher).
   *
   * @throws IllegalArgumentException naming the entry that is not {@code student:teacher}
   */
  public static Map<Integer, Integer> parseLayerMap(String text) {
    Map<Integer, Integer> map = new TreeMap<>();
    for (String entry : text.split(",")) {
      String[] pair = entry.trim().split(":");
      try {
        map.put(Integer.parseInt(pair[0].trim()), Integer.parseInt(pair[1].trim()));
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("layer map entry '" + entry + "' is not student:teacher (e.g. 3:7)");
      }
    }
    return map;
  }

  /** Checks the map against the two models: layers exist and hidden sizes agree. */
  public void check(LlamaModel student, LlamaModel teacher) {
    if (student.config().hiddenSize() != teacher.config().hiddenSize()) {
      throw new IllegalArgumentException("hidden-state loss needs equal hidden sizes, student "
          + student.config().hiddenSize() + " vs teacher " + teacher.config().hiddenSize());
    }
    studentToTeacher.forEach((s, t) -> {
      if (s < 0 || s >= student.config().numHiddenLayers() || t < 0 || t >= teacher.config().numHiddenLayers()) {
        throw new IllegalArgumentException("layer pair " + s + ":" + t + " is outside the models ("
            + student.config().numHiddenLayers() + " student, " + teacher.config().numHiddenLayers()
            + " teacher layers)");
      }
    });
  }

  /** Copies of the mapped teacher layers' outputs during {@code forward}, kept in {@code keep}. */
  Map<Integer, NDArray> captureTeacher(LlamaModel teacher, NDManager keep, Runnable forward) {
    Map<Integer, NDArray> outputs = new HashMap<>();
    synchronized (teacher) { // the teacher may be shared by ranks in one JVM; its taps are model-wide
      try (Taps.Registration r = teacher.taps().on(TapPoint.LAYER_OUTPUT, (point, layer, activation) -> {
        if (studentToTeacher.containsValue(layer)) {
          NDArray copy = activation.toType(DataType.FLOAT32, true);
          copy.attach(keep);
          outputs.put(layer, copy);
        }
      })) {
        forward.run();
      }
    }
    return outputs;
  }

  /**
   * Registers, for the duration of the student's forward pass, the computation of this loss on its mapped layers; the
   * returned accumulator holds the (graph-connected) loss term, already divided by {@code globalTokens}.
   *
   * @param tokenMask {@code [batch, seq]}: 1 for real tokens, 0 for padding, which the term leaves out (see
   *     {@link PaddedBatch}); null when every position is real
   */
  Accumulator attach(LlamaModel student, Map<Integer, NDArray> teacherOutputs, NDArray tokenMask, NDManager keep,
      long globalTokens) {
    Accumulator accumulator = new Accumulator();
    float scale = (float) (weight / studentToTeacher.size() / globalTokens);
    accumulator.registration = student.taps().on(TapPoint.LAYER_OUTPUT, (point, layer, activation) -> {
      Integer teacherLayer = studentToTeacher.get(layer);
      if (teacherLayer == null) {
        return;
      }
      NDArray s = activation.toType(DataType.FLOAT32, false);
      NDArray t = teacherOutputs.get(teacherLayer).toDevice(s.getDevice(), false);
      NDArray dot = s.mul(t).sum(new int[] {-1});
      NDArray norms = Scalars.plus(s.norm(new int[] {-1}).mul(t.norm(new int[] {-1})), 1e-8f);
      NDArray perToken = Scalars.plus(dot.div(norms).neg(), 1f);
      if (tokenMask != null) {
        perToken = perToken.mul(tokenMask.toDevice(perToken.getDevice(), false));
      }
      NDArray term = Scalars.times(perToken.sum(), scale);
      term.attach(keep);
      accumulator.add(term, keep);
    });
    return accumulator;
  }

  /** The loss term of one forward pass; close it to unregister from the student. */
  static final class Accumulator implements AutoCloseable {
    private Taps.Registration registration;
    private NDArray total;

    private void add(NDArray term, NDManager keep) {
      total = total == null ? term : total.add(term);
      total.attach(keep);
    }

    /** The summed term (graph-connected), or null when no mapped layer ran. */
    NDArray total() {
      return total;
    }

    @Override
    public void close() {
      registration.close();
    }
  }
}
