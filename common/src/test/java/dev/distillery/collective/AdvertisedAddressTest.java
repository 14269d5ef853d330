package dev.distillery.collective;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.util.List;
import org.junit.jupiter.api.Test;

class AdvertisedAddressTest {
  @Test
  void aHostNameResolvingToLoopbackIsReplacedByAnInterfaceAddressIpv4First() throws Exception {
    InetAddress localhost = InetAddress.getByName("localhost"); // resolves to a loopback address
    InetAddress debian = InetAddress.getByAddress("vm", new byte[] {127, 0, 1, 1}); // Debian's host name entry
    List<InetAddress> interfaces = List.of(InetAddress.getLoopbackAddress(), InetAddress.getByName("fe80::1"),
        InetAddress.getByName("2001:db8::5"), InetAddress.getByName("192.0.2.7"));
    assertThat(localhost.isLoopbackAddress()).isTrue();
    assertThat(AdvertisedAddress.choose(localhost, interfaces)).isEqualTo("192.0.2.7");
    assertThat(AdvertisedAddress.choose(debian, interfaces)).isEqualTo("192.0.2.7");
    assertThat(AdvertisedAddress.choose(debian, interfaces.subList(0, 3))).isEqualTo("2001:db8:0:0:0:0:0:5");
  }

  @Test
  void aReachableHostNameIsKeptAndOnlyLoopbackKnownStaysLoopback() throws Exception {
    InetAddress reachable = InetAddress.getByAddress("node-1", new byte[] {10, 0, 0, 4});
    assertThat(AdvertisedAddress.choose(reachable, List.of(InetAddress.getByName("192.0.2.7")))).isEqualTo("10.0.0.4");
    InetAddress debian = InetAddress.getByAddress("vm", new byte[] {127, 0, 1, 1});
    assertThat(AdvertisedAddress.choose(debian, List.of(InetAddress.getLoopbackAddress()))).isEqualTo("127.0.1.1");
  }

  @Test
  void thisMachineAdvertisesANonLoopbackAddressWhenItHasOne() throws Exception {
    boolean reachable = NetworkInterface.networkInterfaces().filter(this::isUp).flatMap(NetworkInterface::inetAddresses)
        .anyMatch(a -> !a.isLoopbackAddress() && !a.isLinkLocalAddress());
    InetAddress chosen = InetAddress.getByName(AdvertisedAddress.ofThisMachine());
    assertThat(chosen.isLoopbackAddress()).as(chosen.toString()).isEqualTo(!reachable);
  }

  private boolean isUp(NetworkInterface nic) {
    try {
      return nic.isUp();
    } catch (java.net.SocketException e) {
      return false;
    }
  }
}
