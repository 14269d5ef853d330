package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Collection;

/**
 * PyTorch autograd driven directly, per thread. DJL's {@code GradientCollector} allows one open collector per JVM,
 * which rules out two ranks training in one local-mode JVM; PyTorch's grad mode is thread-local, so each rank's
 * thread records and back-propagates its own graph here.
 */
public final class Autograd {
  private Autograd() {}

  /** Turns graph recording on for this thread until the returned scope closes (then restores the old mode). */
  public static Scope record() {
    return mode(true);
  }

  /** Turns graph recording off for this thread until the returned scope closes. */
  public static Scope pause() {
    return mode(false);
  }

  private static Scope mode(boolean enabled) {
    boolean previous = JniUtils.isGradMode();
    JniUtils.setGradMode(enabled);
    return () -> JniUtils.setGradMode(previous);
  }

  /**
   * Back-propagates {@code outputGradient} (the gradient of the loss with respect to {@code output}) through the
   * graph that produced {@code output}, adding into the leaves' gradients. The graph is freed afterwards.
   */
  public static void backward(NDArray output, NDArray outputGradient) {
    JniUtils.backward((PtNDArray) output, (PtNDArray) outputGradient, false, false);
  }

  /** Clears the accumulated gradients of {@code parameters}. */
  public static void zeroGradients(Collection<NDArray> parameters) {
    for (NDArray parameter : parameters) {
      if (parameter.hasGradient()) {
        JniUtils.zeroGrad((PtNDArray) parameter);
      }
    }
  }

  /** A grad-mode scope; closing it restores the previous mode. */
  @FunctionalInterface
  public interface Scope extends AutoCloseable {
    @Override
    void close();
  }
}
