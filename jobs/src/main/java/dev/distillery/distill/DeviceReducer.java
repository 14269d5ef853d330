package dev.distillery.distill;

import dev.distillery.collective.LocalReducer;
import dev.distillery.collective.RingAllReduce;

/** One device's gradient reducer when a rank trains on several: sums over the rank's devices, then the ring. */
final class DeviceReducer implements GradientReducer {
  private final LocalReducer devices;
  private final int device;
  private final RingAllReduce ring;

  DeviceReducer(LocalReducer devices, int device, RingAllReduce ring) {
    this.devices = devices;
    this.device = device;
    this.ring = ring;
  }

  @Override
  public int rank() {
    return ring.rank();
  }

  @Override
  public int worldSize() {
    return ring.worldSize();
  }

  @Override
  public void sumInPlace(float[] values) {
    devices.allReduceSum(device, values);
  }

  @Override
  public void sumInPlace(double[] values) {
    devices.allReduceSum(device, values);
  }
}
