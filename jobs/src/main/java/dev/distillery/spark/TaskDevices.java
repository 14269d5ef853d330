package dev.distillery.spark;

import ai.djl.Device;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The accelerator Spark assigned to the running task. */
public final class TaskDevices {
  private static final Logger LOG = LoggerFactory.getLogger(TaskDevices.class);

  private TaskDevices() {}

  /**
   * The first GPU address in the task's {@code gpu} resources ({@code spark.task.resource.gpu.amount}) as a DJL
   * device, or the CPU when the task has none or runs outside a task (driver, tests).
   */
  public static Device current() {
    TaskContext task = TaskContext.get();
    ResourceInformation gpus = task == null ? null : task.resourcesJMap().get("gpu");
    if (gpus == null || gpus.addresses().length == 0) {
      return Device.cpu();
    }
    if (gpus.addresses().length > 1) {
      LOG.warn("task was assigned GPUs {}; this version uses the first only", String.join(",", gpus.addresses()));
    }
    return Device.gpu(Integer.parseInt(gpus.addresses()[0].trim()));
  }
}
