package dev.distillery.collective;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The address a rank advertises when it was given neither a host nor a bind address: this machine's host name's
 * address, unless that is a loopback address (Debian images map the host name to 127.0.1.1), which ranks on other
 * machines cannot reach; then an address of one of the machine's network interfaces (IPv4 first).
 */
final class AdvertisedAddress {
  private static final Logger LOG = LoggerFactory.getLogger(AdvertisedAddress.class);

  private AdvertisedAddress() {}

  /** The address to advertise for this machine. */
  static String ofThisMachine() throws IOException {
    List<InetAddress> interfaces = new ArrayList<>();
    for (NetworkInterface nic : NetworkInterface.networkInterfaces().toList()) {
      if (nic.isUp()) {
        interfaces.addAll(nic.inetAddresses().toList());
      }
    }
    return choose(InetAddress.getLocalHost(), interfaces);
  }

  /**
   * {@code localHost}'s address unless it is a loopback address; then the first of {@code interfaces} that is
   * neither loopback, link-local nor the wildcard (IPv4 before IPv6); {@code localHost}'s loopback address, with a
   * warning, when there is none (a ring across machines cannot form then).
   */
  static String choose(InetAddress localHost, List<InetAddress> interfaces) {
    if (!localHost.isLoopbackAddress()) {
      return localHost.getHostAddress();
    }
    return interfaces.stream()
        .filter(a -> !a.isLoopbackAddress() && !a.isLinkLocalAddress() && !a.isAnyLocalAddress())
        .min(Comparator.comparing(a -> a instanceof Inet4Address ? 0 : 1))
        .map(a -> {
          LOG.info("host name {} resolves to the loopback address {}; advertising {} instead", localHost.getHostName(),
              localHost.getHostAddress(), a.getHostAddress());
          return a.getHostAddress();
        })
        .orElseGet(() -> {
          LOG.warn("host name {} resolves to the loopback address {} and no other address is known: ranks on other "
              + "machines cannot reach this one", localHost.getHostName(), localHost.getHostAddress());
          return localHost.getHostAddress();
        });
  }
}
