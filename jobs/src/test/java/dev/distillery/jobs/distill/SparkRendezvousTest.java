package dev.distillery.jobs.distill;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class SparkRendezvousTest {
  @Test
  void theExecutorHostIsTheTaskAddressWithoutItsPort() throws Exception {
    assertThat(SparkRendezvous.host("10.1.2.3:41234")).isEqualTo("10.1.2.3");
    assertThat(SparkRendezvous.host("ip-10-1-2-3.ec2.internal:7077")).isEqualTo("ip-10-1-2-3.ec2.internal");
    assertThat(SparkRendezvous.host("[2001:db8::5]:41234")).isEqualTo("2001:db8::5");
    assertThat(SparkRendezvous.host("executor-7")).isEqualTo("executor-7");
    // A host name that resolves to loopback is passed on as the name the driver knows, not resolved here
    String host = SparkRendezvous.host("localhost:41234");
    assertThat(host).isEqualTo("localhost");
    assertThat(InetAddress.getByName(host).isLoopbackAddress()).isTrue();
  }
}
