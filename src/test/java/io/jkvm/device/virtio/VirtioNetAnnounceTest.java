package io.jkvm.device.virtio;

import io.jkvm.net.MacAddress;
import io.jkvm.net.Tap;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A learning bridge finds the guest behind its new TAP from the VMM's announcement alone: the TAP
 * is moved into a network namespace this test makes (nothing leaves it), enslaved to a bridge
 * there, and the bridge's forwarding database is read back. Skipped visibly without TAP devices,
 * network namespaces or CAP_NET_ADMIN.
 */
class VirtioNetAnnounceTest {
    private static final MacAddress GUEST = MacAddress.parse("52:54:00:ab:cd:ef");

    @Test
    void aBridgeLearnsTheGuestsMacOnTheNewPort() throws Exception {
        Tap tap;
        try {
            tap = Tap.open("jkvmann%d");
        } catch (IOException e) {
            Assumptions.abort("TAP unavailable here: " + e.getMessage());
            return;
        }
        String ns = "jkvm-announce-" + ProcessHandle.current().pid();
        VirtioNet net = new VirtioNet(tap, GUEST);
        try {
            Result made;
            try {
                made = run("ip", "netns", "add", ns);
            } catch (IOException e) {
                Assumptions.abort("no ip(8) here: " + e.getMessage());
                return;
            }
            Assumptions.assumeTrue(made.exit() == 0, () -> "cannot make a network namespace here: " + made.out());
            must("ip", "link", "set", tap.name(), "netns", ns);
            must("ip", "-n", ns, "link", "add", "br0", "type", "bridge");
            must("ip", "-n", ns, "link", "set", tap.name(), "master", "br0");
            must("ip", "-n", ns, "link", "set", "br0", "up");
            must("ip", "-n", ns, "link", "set", tap.name(), "up");
            String mac = GUEST.toString().toLowerCase(Locale.ROOT);
            assertThat(must("bridge", "-n", ns, "fdb", "show", "dev", tap.name())).doesNotContain(mac);

            net.announceSelf().join();

            // All five rounds were written before join returned; the bridge learns on receive.
            assertThat(must("bridge", "-n", ns, "fdb", "show", "dev", tap.name()))
                    .as("the bridge's forwarding database for the TAP port")
                    .containsPattern("(?m)^" + mac + " .*master br0(?! permanent)");
        } finally {
            net.close();
            try {
                run("ip", "netns", "del", ns);
            } catch (IOException e) {
                // no ip(8): nothing was made
            }
        }
    }

    @Test
    void aClosedDeviceAnnouncesNothing() throws Exception {
        int[] writes = new int[1];
        io.jkvm.net.NetBackend backend = new io.jkvm.net.NetBackend() {
            @Override
            public int fd() {
                writes[0]++;
                return -1;
            }

            @Override
            public boolean setOffloads(boolean csum, boolean tso4, boolean tso6) {
                return true;
            }

            @Override
            public void close() {}
        };
        VirtioNet net = new VirtioNet(backend, GUEST);
        net.close();
        net.announceSelf().join();
        assertThat(writes[0]).isZero();
    }

    private record Result(int exit, String out) {}

    private static Result run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), out);
    }

    private static String must(String... cmd) throws IOException, InterruptedException {
        Result r = run(cmd);
        assertThat(r.exit()).as(String.join(" ", cmd) + ": " + r.out()).isZero();
        return r.out();
    }
}
