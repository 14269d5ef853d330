package dev.distillery.jobs.command;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import java.util.List;
import org.junit.jupiter.api.Test;

/** One device-name parser: gpuN and gpu:N both name CUDA device N, in single options and lists alike. */
class DeviceNamesTest {
  @Test
  void bothGpuSpellingsNameTheSameDevice() {
    assertThat(DeviceNames.parse("gpu1")).isEqualTo(Device.gpu(1));
    assertThat(DeviceNames.parse("gpu:1")).isEqualTo(Device.gpu(1));
    assertThat(DeviceNames.parse(" GPU:12 ")).isEqualTo(Device.gpu(12));
    assertThat(DeviceNames.parse("gpu")).isEqualTo(Device.gpu(0));
    assertThat(DeviceNames.parse("cpu")).isEqualTo(Device.cpu());
  }

  @Test
  void aListMixesTheSpellings() {
    assertThat(DeviceNames.parseList("gpu0, gpu:1,cpu")).containsExactly(Device.gpu(0), Device.gpu(1), Device.cpu());
  }

  @Test
  void aWrongNameIsNamedWithTheAcceptedOnes() {
    assertThatThrownBy(() -> DeviceNames.parse("gpu:"))
        .hasMessage("device 'gpu:' is not one of cpu, gpu, gpuN or gpu:N (N a CUDA index, e.g. gpu0 or gpu:0)");
    assertThatThrownBy(() -> DeviceNames.parseList("gpu0,tpu1"))
        .hasMessage("device list 'gpu0,tpu1': device 'tpu1' is not one of " + DeviceNames.ACCEPTED);
    assertThatThrownBy(() -> DeviceNames.parseList("gpu0,,gpu1")).hasMessageContaining("device ''");
    assertThat(DeviceNames.isList("gpu:0,gpu1")).isTrue();
    assertThat(List.of("cuda:0", "gpu-1", "gpu1234")).noneMatch(DeviceNames::isDevice);
  }
}
