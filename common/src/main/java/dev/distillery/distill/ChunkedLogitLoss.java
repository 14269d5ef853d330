package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.core.Linear;
import dev.distillery.model.LanguageModelLoss;

/**
 * The distillation / cross-entropy loss on logits and its backward pass, computed a chunk of tokens at a time so
 * that {@code [tokens, vocab]} logits (vocab 128K for Llama 3) exist for one chunk only, never for the batch.
 *
 * <p>How: the student's final hidden states are detached into a leaf; per chunk, the student logits are projected
 * with graph recording on, the gradient of the loss with respect to those logits is computed in closed form
 * (forward KL: {@code T·(p_s − p_t)}; reverse KL: {@code T·p_s⊙(log p_s − log p_t − KL)}; cross-entropy:
 * {@code softmax − onehot}), and back-propagated into the leaf and the lm_head weight. One final backward from the
 * hidden states through the decoder then completes the student's gradients.
 *
 * <p>A teacher and student whose vocabularies differ only by padding rows at the end (the same tokenizer, e.g. Qwen2.5's
 * 152,064 vs 151,936 ids) are compared over their common ids, the first {@code min(vocab)}: the KD term is a divergence
 * between the two distributions restricted to those ids; cross-entropy uses the student's whole vocabulary. Whether the
 * vocabularies may be aligned so (same tokenizer) is the caller's check.
 *
 * <p>Losses are sums over this call's tokens; gradients are already divided by the global token counts the caller
 * passes, so summing gradients over micro-batches and ranks gives the gradient of the global mean loss.
 */
public final class ChunkedLogitLoss {
  private final LossSpec spec;
  private final int chunkTokens;

  /**
   * @param chunkTokens tokens per chunk; {@code chunkTokens × vocab} floats are alive at a time (a few of them)
   */
  public ChunkedLogitLoss(LossSpec spec, int chunkTokens) {
    if (chunkTokens <= 0) {
      throw new IllegalArgumentException("chunkTokens must be > 0, got " + chunkTokens);
    }
    this.spec = spec;
    this.chunkTokens = chunkTokens;
  }

  /** What this loss computes. */
  public LossSpec spec() {
    return spec;
  }

  /**
   * Computes the loss of one micro-batch and adds its gradients into the student's parameters.
   *
   * @param studentHidden {@code [batch, seq, hidden]} from {@code forwardHidden} under {@link Autograd#record()}
   * @param studentHead the student's output projection {@code [vocab, hidden]} (a parameter)
   * @param teacherHidden the teacher's final hidden states for the same ids (no graph), or null without KD
   * @param teacherHead the teacher's output projection, or null without KD
   * @param inputIds {@code [batch, seq]}: position t is scored against {@code inputIds[t + 1]} for cross-entropy
   * @param globalKdTokens KD-scored tokens in the whole global batch ({@code batch × seq} summed over ranks)
   * @param globalCeTokens CE-scored tokens in the whole global batch ({@code batch × (seq − 1)} summed)
   */
  public LossSums backward(NDArray studentHidden, NDArray studentHead, NDArray teacherHidden, NDArray teacherHead,
      NDArray inputIds, long globalKdTokens, long globalCeTokens) {
    try (NDManager scope = studentHidden.getManager().newSubManager()) {
      HiddenGradient result = logitGradients(studentHidden, studentHead, teacherHidden, teacherHead, inputIds, null,
          globalKdTokens, globalCeTokens, scope);
      Autograd.backward(studentHidden, result.gradient());
      return result.sums();
    }
  }

  /** The loss sums of a micro-batch and the gradient of the loss with respect to the student's final hidden states. */
  public record HiddenGradient(LossSums sums, NDArray gradient) {}

  /**
   * Like {@link #backward} but stops at the final hidden states: the lm_head gradient is accumulated, and the
   * gradient with respect to {@code studentHidden} is returned (in {@code keep}) for the caller to back-propagate,
   * possibly together with other loss terms.
   *
   * @param tokenMask {@code [batch, seq]}: 1 for real tokens, 0 for padding, which no loss term counts (see
   *     {@link PaddedBatch}); null when every position is real
   */
  public HiddenGradient logitGradients(NDArray studentHidden, NDArray studentHead, NDArray teacherHidden,
      NDArray teacherHead, NDArray inputIds, NDArray tokenMask, long globalKdTokens, long globalCeTokens,
      NDManager keep) {
    if (spec.needsTeacher() && (teacherHidden == null || teacherHead == null)) {
      throw new IllegalArgumentException("the loss needs teacher hidden states and lm_head");
    }
    return gradients(studentHidden, studentHead, teacherHidden, teacherHead, null, inputIds, tokenMask,
        globalKdTokens, globalCeTokens, keep);
  }

  /**
   * Like {@link #logitGradients(NDArray, NDArray, NDArray, NDArray, NDArray, NDArray, long, long, NDManager)}, with
   * the teacher's distributions read from storage instead of computed: the KD term is the forward KL between the
   * teacher's and the student's distributions coarsened to the stored top-k ids plus one tail bucket,
   * {@code Σ_top p_i (log p_i − log q_i) + P_tail (log P_tail − log Q_tail)}, where {@code Q_tail} is the student's
   * mass outside the k ids. It is never above the full KL and equals it when k is the vocabulary size. Its gradient
   * with respect to student logit {@code j} is {@code q_j − p_j} inside the k ids and {@code q_j (1 − P_tail/Q_tail)}
   * outside. Only temperature 1 is defined: the stored log-probabilities are those at T = 1, and the tail's mass
   * cannot be re-tempered without the ids inside it.
   *
   * @param stored the teacher's top-k distributions for this micro-batch's rows, over the student's vocabulary
   * @throws IllegalArgumentException unless the loss is forward KL at temperature 1
   */
  public HiddenGradient logitGradients(NDArray studentHidden, NDArray studentHead, TopKTargets stored,
      NDArray inputIds, NDArray tokenMask, long globalKdTokens, long globalCeTokens, NDManager keep) {
    if (spec.needsTeacher() && (spec.kind() != LossSpec.Divergence.FORWARD_KL || spec.temperature() != 1)) {
      throw new IllegalArgumentException("stored teacher distributions support forward KL at temperature 1 only, "
          + "not " + spec.kind() + " at temperature " + spec.temperature());
    }
    return gradients(studentHidden, studentHead, null, null, stored, inputIds, tokenMask, globalKdTokens,
        globalCeTokens, keep);
  }

  private HiddenGradient gradients(NDArray studentHidden, NDArray studentHead, NDArray teacherHidden,
      NDArray teacherHead, TopKTargets stored, NDArray inputIds, NDArray tokenMask, long globalKdTokens,
      long globalCeTokens, NDManager keep) {
    boolean online = stored == null;
    long batch = studentHidden.getShape().get(0);
    long seq = studentHidden.getShape().get(1);
    long tokens = batch * seq;
    double kdSum = 0;
    double ceSum = 0;
    try (NDManager scope = studentHidden.getManager().newSubManager()) {
      NDArray leaf = studentHidden.stopGradient();
      leaf.attach(scope);
      leaf.setRequiresGradient(true);
      boolean teacherForward = spec.needsTeacher() && online;
      NDArray teacherRows = teacherForward ? teacherHidden.reshape(tokens, -1) : null;
      long studentVocab = studentHead.getShape().get(0);
      long common = teacherForward ? Math.min(studentVocab, teacherHead.getShape().get(0)) : studentVocab;
      NDArray commonTeacherHead = teacherForward && teacherHead.getShape().get(0) > common
          ? teacherHead.get(scope, new NDIndex("0:{}", common)) : teacherHead;
      NDArray targets = nextTokenTargets(inputIds, tokenMask, scope).toDevice(studentHidden.getDevice(), false);
      NDArray realRows = tokenMask == null ? null
          : tokenMask.reshape(tokens, 1).toDevice(studentHidden.getDevice(), false);
      for (long start = 0; start < tokens; start += chunkTokens) {
        NDIndex chunk = new NDIndex("{}:{}", start, Math.min(tokens, start + chunkTokens));
        try (NDManager step = scope.newSubManager()) {
          NDArray logits;
          try (Autograd.Scope on = Autograd.record()) { // slicing the leaf must be recorded too
            logits = Linear.linear(leaf.reshape(tokens, -1).get(chunk), studentHead).singletonOrThrow();
          }
          logits.attach(step);
          NDArray gradient;
          try (Autograd.Scope off = Autograd.pause()) {
            NDArray scores = logits.stopGradient().toType(DataType.FLOAT32, false);
            gradient = step.zeros(scores.getShape(), DataType.FLOAT32, scores.getDevice());
            // Slices of longer-lived arrays are made in the chunk's manager: an operation's result joins its first
            // operand's manager, so what is computed from them (the teacher's logits and log-probabilities, the
            // one-hot targets) is freed with the chunk, not kept until the caller's micro-step ends.
            NDArray real = realRows == null ? null : realRows.get(step, chunk);
            if (spec.needsTeacher() && !online) {
              long end = Math.min(tokens, start + chunkTokens);
              Term kd = storedDivergence(scores, stored.chunk(step, start, end, scores.getDevice()), real);
              kdSum += kd.loss;
              gradient.addi(kd.gradient.muli(spec.kdWeight() / globalKdTokens));
            } else if (spec.needsTeacher()) {
              NDArray teacherLogits = Linear.linear(teacherRows.get(step, chunk), commonTeacherHead)
                  .singletonOrThrow().toType(DataType.FLOAT32, false);
              boolean padded = common < studentVocab;
              Term kd = divergence(padded ? scores.get(new NDIndex(":, 0:{}", common)) : scores, teacherLogits, real);
              kdSum += kd.loss;
              NDArray kdGradient = kd.gradient.muli(spec.kdWeight() / globalKdTokens);
              if (padded) { // the student's padding ids take no part in the KD term
                kdGradient = kdGradient.concat(step.zeros(new ai.djl.ndarray.types.Shape(
                    kdGradient.getShape().get(0), studentVocab - common), DataType.FLOAT32, kdGradient.getDevice()), 1);
              }
              gradient.addi(kdGradient);
            }
            if (spec.ceWeight() > 0) {
              Term ce = crossEntropy(scores, targets.get(step, chunk));
              ceSum += ce.loss;
              gradient.addi(ce.gradient.muli(spec.ceWeight() / globalCeTokens));
            }
            gradient = gradient.toType(logits.getDataType(), false);
          }
          Autograd.backward(logits, gradient);
        }
      }
      NDArray hiddenGradient = leaf.getGradient();
      hiddenGradient.attach(keep);
      long kdTokens = tokenMask == null ? tokens : (long) tokenMask.sum().getFloat();
      long ceTokens = tokenMask == null ? batch * (seq - 1) : kdTokens - batch;
      return new HiddenGradient(new LossSums(kdSum, ceSum, kdTokens, ceTokens), hiddenGradient);
    }
  }

  /**
   * {@code inputIds[:, 1:]} with the ignore index at each row's last position (and, with a mask, wherever the next
   * token is padding), flattened to int64.
   */
  private static NDArray nextTokenTargets(NDArray inputIds, NDArray tokenMask, NDManager scope) {
    long batch = inputIds.getShape().get(0);
    NDArray next = inputIds.get(scope, new NDIndex(":, 1:")).toType(DataType.INT64, false);
    NDArray last = scope.full(new ai.djl.ndarray.types.Shape(batch, 1), (long) LanguageModelLoss.IGNORE_INDEX);
    NDArray targets = next.concat(last, 1).reshape(-1);
    if (tokenMask == null) {
      return targets;
    }
    NDArray nextReal = tokenMask.get(scope, new NDIndex(":, 1:"))
        .concat(scope.zeros(new ai.djl.ndarray.types.Shape(batch, 1), DataType.FLOAT32), 1).reshape(-1)
        .toType(DataType.INT64, false);
    // real next token: the target; else the ignore index
    return targets.mul(nextReal).add(nextReal.sub(1).mul(-LanguageModelLoss.IGNORE_INDEX));
  }

  private record Term(double loss, NDArray gradient) {}

  /**
   * The KD term for one chunk: its summed loss (× T²) and its gradient with respect to the student logits.
   *
   * @param real {@code [chunk, 1]} 1 for real tokens and 0 for padding, or null when all are real
   */
  private Term divergence(NDArray studentLogits, NDArray teacherLogits, NDArray real) {
    double t = spec.temperature();
    NDArray logStudent = studentLogits.div(t).logSoftmax(1);
    NDArray logTeacher = teacherLogits.div(t).logSoftmax(1);
    NDArray pStudent = logStudent.exp();
    NDArray pTeacher = logTeacher.exp();
    Term term;
    if (spec.kind() == LossSpec.Divergence.FORWARD_KL) {
      NDArray pointwise = pTeacher.mul(logTeacher.sub(logStudent));
      double loss = (real == null ? pointwise : pointwise.mul(real)).sum().getFloat() * t * t;
      term = new Term(loss, pStudent.sub(pTeacher).muli(t));
    } else {
      NDArray logRatio = logStudent.sub(logTeacher);
      NDArray perToken = pStudent.mul(logRatio).sum(new int[] {1}, true);
      double loss = (real == null ? perToken : perToken.mul(real)).sum().getFloat() * t * t;
      term = new Term(loss, pStudent.mul(logRatio.sub(perToken)).muli(t));
    }
    return real == null ? term : new Term(term.loss, term.gradient.muli(real));
  }

  /**
   * The KD term for one chunk against stored top-k targets (see the stored-targets {@code logitGradients}): summed
   * loss and gradient with respect to the student logits.
   */
  private static Term storedDivergence(NDArray studentLogits, TopKTargets.Chunk teacher, NDArray real) {
    NDArray logStudent = studentLogits.logSoftmax(1);
    NDArray pStudent = logStudent.exp();
    NDArray pTop = teacher.logProbs().exp();
    NDArray studentRest = pStudent.scatter(teacher.ids(), pTop.zerosLike(), 1); // student mass outside the k ids
    NDArray studentTail = studentRest.sum(new int[] {1}, true).maximum(1e-37f); // no log(0) when k = vocab
    NDArray teacherTail = teacher.tailLogMass().exp(); // 0 when the k ids hold all the mass
    NDArray inside = pTop.mul(teacher.logProbs().sub(logStudent.gather(teacher.ids(), 1))).sum(new int[] {1}, true);
    NDArray outside = teacherTail.mul(teacher.tailLogMass().maximum(-1e30f).sub(studentTail.log()));
    NDArray perToken = inside.add(outside);
    double loss = (real == null ? perToken : perToken.mul(real)).sum().getFloat();
    NDArray gradient = pStudent.sub(pStudent.zerosLike().scatter(teacher.ids(), pTop, 1))
        .subi(studentRest.mul(teacherTail.div(studentTail)));
    return new Term(loss, real == null ? gradient : gradient.muli(real));
  }

  /** Cross-entropy for one chunk against {@code targets} (ignore index skipped): summed loss and gradient. */
  private static Term crossEntropy(NDArray logits, NDArray targets) {
    NDArray counted = targets.neq(LanguageModelLoss.IGNORE_INDEX);
    NDArray mask = counted.toType(DataType.FLOAT32, false).expandDims(1);
    NDArray safeTargets = targets.mul(counted.toType(DataType.INT64, false));
    NDArray logProbabilities = logits.logSoftmax(1);
    NDArray oneHot = safeTargets.oneHot(Math.toIntExact(logits.getShape().get(1))).toType(DataType.FLOAT32, false);
    double loss = -logProbabilities.mul(oneHot).mul(mask).sum().getFloat();
    NDArray gradient = logProbabilities.exp().sub(oneHot).muli(mask);
    return new Term(loss, gradient);
  }

  /**
   * Summed losses of one micro-batch and how many tokens each sum covers on this rank.
   *
   * @param kdSum sum over tokens of the distillation term (× T²), 0 without KD
   * @param ceSum sum over scored tokens of the cross-entropy, 0 without CE
   */
  public record LossSums(double kdSum, double ceSum, long kdTokens, long ceTokens) {
    /** Element-wise sum, for accumulating micro-batches. */
    public LossSums plus(LossSums other) {
      return new LossSums(kdSum + other.kdSum, ceSum + other.ceSum, kdTokens + other.kdTokens,
          ceTokens + other.ceTokens);
    }
  }
}
