package dev.distillery.memory;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The planner's figures for one device, in bytes. The lasting items are allocated for the whole run; the peak adds
 * the largest of the transient phases of a step (see {@link Phase}).
 *
 * @param studentWeights float32 student parameters
 * @param gradients the parameters' float32 gradients, accumulated over the micro-batches (0 with sharded gradients)
 * @param reducedGradients the summed gradients the optimizer reads (the whole set, or this replica's shard): with the
 *     whole optimizer on the CPU the host buckets the ring reduces in, kept across steps; sharded on the CPU, the
 *     shard plus the one host bucket buffer; on a GPU their copy on the device; with sharded gradients the shard's
 *     sums, accumulated all step
 * @param optimizerState AdamW's two float32 moments (this replica's share when sharded)
 * @param teacherWeights the frozen teacher, 0 without one
 * @param positionTables the cached causal mask and RoPE tables of both models at the row length
 * @param savedActivations what the student's backward needs at the peak of the micro-step: with recomputation every
 *     layer's input plus one recomputed layer's graph, without it every layer's graph
 * @param layerWorkspace the rest of the micro-step's peak: one layer's working set, the teacher's final hidden states
 *     and the gradients flowing back
 * @param lossChunk the loss chunk's {@code [chunk, vocab]} logits, probabilities and gradients, and the lm_head
 *     gradient each chunk accumulates
 * @param optimizerStep transients of the optimizer step: squared gradients for the global norm and one tensor's
 *     update temporaries
 * @param lasting the bytes allocated for the whole run: weights, gradients (on the CPU the reduced ones too), moments,
 *     teacher, tables
 * @param microStep the transient bytes of the micro-step's largest phase: saved activations, workspace and, when that
 *     phase is the loss, the chunk
 * @param peakPhase the phase that sets the peak
 * @param peak the most this device holds at once: lasting plus the larger of the micro-step and the optimizer step
 * @param sendBytesPerStep bytes each rank sends per step in the ring (all-reduce, or reduce-scatter plus all-gather)
 */
public record MemoryPlan(long studentWeights, long gradients, long reducedGradients, long optimizerState,
    long teacherWeights, long positionTables, long savedActivations, long layerWorkspace, long lossChunk,
    long optimizerStep, long lasting, long microStep, Phase peakPhase, long peak, long sendBytesPerStep) {

  /** The parts of a step whose transients can set the peak. */
  public enum Phase {
    TEACHER_FORWARD("teacher forward"),
    STUDENT_FORWARD("student forward"),
    LOSS("loss chunks"),
    BACKWARD("backward"),
    OPTIMIZER("optimizer step");

    private final String label;

    Phase(String label) {
      this.label = label;
    }

    @Override
    public String toString() {
      return label;
    }
  }

  /** Seconds the ring takes to move {@link #sendBytesPerStep} at {@code gigabitsPerSecond} per link. */
  public double allReduceSeconds(double gigabitsPerSecond) {
    return sendBytesPerStep * 8.0 / (gigabitsPerSecond * 1e9);
  }

  /** The line items by name, in print order. */
  public Map<String, Long> items() {
    Map<String, Long> items = new LinkedHashMap<>();
    items.put("student_weights", studentWeights);
    items.put("gradients", gradients);
    items.put("reduced_gradients", reducedGradients);
    items.put("optimizer_state", optimizerState);
    items.put("teacher_weights", teacherWeights);
    items.put("position_tables", positionTables);
    items.put("saved_activations", savedActivations);
    items.put("layer_workspace", layerWorkspace);
    items.put("loss_chunk", lossChunk);
    items.put("optimizer_step", optimizerStep);
    return items;
  }
}
