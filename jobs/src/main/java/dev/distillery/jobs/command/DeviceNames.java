package dev.distillery.jobs.command;

import ai.djl.Device;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Device names as every option spells them: {@code cpu}, {@code gpu} (the first GPU), and {@code gpuN} or
 * {@code gpu:N} (N a CUDA index), in any case.
 */
public final class DeviceNames {
  /** What a device name may be, for errors and option docs. */
  public static final String ACCEPTED = "cpu, gpu, gpuN or gpu:N (N a CUDA index, e.g. gpu0 or gpu:0)";
  private static final Pattern GPU = Pattern.compile("gpu(?::?(\\d{1,3}))?", Pattern.CASE_INSENSITIVE);

  private DeviceNames() {}

  /**
   * The device {@code name} names.
   *
   * @throws IllegalArgumentException naming the name and what is accepted
   */
  public static Device parse(String name) {
    String n = name.trim();
    if (n.equalsIgnoreCase("cpu")) {
      return Device.cpu();
    }
    Matcher gpu = GPU.matcher(n);
    if (!gpu.matches()) {
      throw new IllegalArgumentException("device '" + n + "' is not one of " + ACCEPTED);
    }
    return Device.gpu(gpu.group(1) == null ? 0 : Integer.parseInt(gpu.group(1)));
  }

  /** Whether {@code name} is a device name. */
  public static boolean isDevice(String name) {
    try {
      parse(name);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /**
   * Parses a comma list of device names, e.g. {@code gpu0,gpu1}; {@code cpu,cpu} means two replicas on the CPU.
   *
   * @throws IllegalArgumentException naming the list and the entry that is not a device name
   */
  public static List<Device> parseList(String spec) {
    List<Device> devices = new ArrayList<>();
    for (String entry : spec.split(",", -1)) {
      try {
        devices.add(parse(entry));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("device list '" + spec + "': " + e.getMessage(), e);
      }
    }
    return devices;
  }

  /** Whether {@code spec} is a comma list of device names. */
  public static boolean isList(String spec) {
    try {
      parseList(spec);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }
}
