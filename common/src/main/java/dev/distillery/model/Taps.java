package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Registry of {@link TapListener}s on one model. With nothing registered a forward pass creates no extra arrays: the
 * listeners see the arrays the forward computes anyway.
 */
public final class Taps {
  /** Layer index that matches every layer. */
  public static final int ALL_LAYERS = -1;

  private final List<Registration> registrations = new CopyOnWriteArrayList<>();

  /** Observes {@code point} at {@code layer} (or {@link #ALL_LAYERS}) until the returned registration is closed. */
  public Registration on(TapPoint point, int layer, TapListener listener) {
    if (layer < ALL_LAYERS) {
      throw new IllegalArgumentException("layer must be >= 0 or ALL_LAYERS, got " + layer);
    }
    Registration registration = new Registration(point, layer, listener);
    registrations.add(registration);
    return registration;
  }

  /** Observes {@code point} at every layer. */
  public Registration on(TapPoint point, TapListener listener) {
    return on(point, ALL_LAYERS, listener);
  }

  /** Removes every listener. */
  public void clear() {
    registrations.clear();
  }

  void emit(TapPoint point, int layer, NDArray activation) {
    for (Registration r : registrations) {
      if (r.point == point && (r.layer == ALL_LAYERS || r.layer == layer)) {
        r.listener.onActivation(point, layer, activation);
      }
    }
  }

  /** A registered listener; closing it unregisters it. */
  public final class Registration implements AutoCloseable {
    private final TapPoint point;
    private final int layer;
    private final TapListener listener;

    private Registration(TapPoint point, int layer, TapListener listener) {
      this.point = point;
      this.layer = layer;
      this.listener = listener;
    }

    @Override
    public void close() {
      registrations.remove(this);
    }
  }
}
