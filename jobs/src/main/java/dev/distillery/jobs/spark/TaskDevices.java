package dev.distillery.jobs.spark;

import ai.djl.Device;
import dev.distillery.jobs.command.DeviceNames;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The accelerators Spark assigned to the running task. */
public final class TaskDevices {
  private static final Logger LOG = LoggerFactory.getLogger(TaskDevices.class);
  /** The device list that means "whatever Spark assigned". */
  public static final String AUTO = "auto";

  private TaskDevices() {}

  /**
   * The first GPU address in the task's {@code gpu} resources ({@code spark.task.resource.gpu.amount}) as a DJL
   * device, or the CPU when the task has none or runs outside a task (driver, tests). For jobs that use one
   * device per task.
   */
  public static Device current() {
    List<Device> all = assigned();
    if (all.size() > 1) {
      LOG.warn("task was assigned devices {}; this job uses the first only", all);
    }
    return all.get(0);
  }

  /**
   * The devices a task trains on: with {@link #AUTO} every GPU in the task's {@code gpu} resources, or the CPU
   * when it has none; else the listed ones (see {@link DeviceNames#parseList}).
   */
  public static List<Device> forTask(String spec) {
    return spec.equals(AUTO) ? assigned() : DeviceNames.parseList(spec);
  }

  private static List<Device> assigned() {
    TaskContext task = TaskContext.get();
    ResourceInformation gpus = task == null ? null : task.resourcesJMap().get("gpu");
    if (gpus == null || gpus.addresses().length == 0) {
      return List.of(Device.cpu());
    }
    List<Device> devices = new ArrayList<>();
    for (String address : gpus.addresses()) {
      devices.add(Device.gpu(Integer.parseInt(address.trim())));
    }
    return devices;
  }
}
