package dev.distillery.jobs.distill;

import dev.distillery.collective.DirectFloats;
import dev.distillery.collective.LocalReducer;
import dev.distillery.collective.Shard;
import dev.distillery.distill.GradientReducer;

/** One device's gradient reducer when a rank trains on several: sums over the rank's devices, then the ring. */
final class DeviceReducer implements GradientReducer {
  private final LocalReducer devices;
  private final int device;
  private final int replica;
  private final int replicas;

  /**
   * @param replica this device's index among all the job's {@code replicas} (rank x devices per rank + device)
   */
  DeviceReducer(LocalReducer devices, int device, int replica, int replicas) {
    this.devices = devices;
    this.device = device;
    this.replica = replica;
    this.replicas = replicas;
  }

  @Override
  public Shard shard(int length) {
    return devices.shard(device, length);
  }

  @Override
  public void reduceScatterSum(DirectFloats values) {
    devices.reduceScatterSum(device, values);
  }

  @Override
  public void allGather(DirectFloats values) {
    devices.allGather(device, values);
  }

  @Override
  public int replica() {
    return replica;
  }

  @Override
  public int replicas() {
    return replicas;
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
