package dev.distillery.distill;

import dev.distillery.collective.DirectFloats;
import dev.distillery.collective.LocalReducer;

/** One device's gradient reducer when a rank trains on several: sums over the rank's devices, then the ring. */
final class DeviceReducer implements GradientReducer {
  private final LocalReducer devices;
  private final int device;

  DeviceReducer(LocalReducer devices, int device) {
    this.devices = devices;
    this.device = device;
  }

  @Override
  public void sumInPlace(DirectFloats values) {
    devices.allReduceSum(device, values);
  }

  @Override
  public void sumInPlace(double[] values) {
    devices.allReduceSum(device, values);
  }
}
