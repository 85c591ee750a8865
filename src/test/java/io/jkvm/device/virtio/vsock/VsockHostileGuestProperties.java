package io.jkvm.device.virtio.vsock;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hostile transmit packets: random and almost-valid headers (right CIDs, any op, lengths around
 * the chain's, ports that mostly collide so connections exist to be confused), with payloads the
 * header may lie about. Whatever the guest sends, the device never fails (no DEVICE_NEEDS_RESET,
 * which an exception out of a handler would set), never writes outside guest RAM, and holds no
 * more than its bounds: connections, queued control packets.
 */
class VsockHostileGuestProperties {
    record Raw(byte[] header, int payload) {}

    @Provide
    Arbitrary<Raw> packets() {
        Arbitrary<Long> cid = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(8, Arbitraries.just(VsockGuest.CID)), net.jqwik.api.Tuple.of(1, Arbitraries.longs()));
        Arbitrary<Long> dst = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(8, Arbitraries.just(VirtioVsock.HOST_CID)), net.jqwik.api.Tuple.of(1, Arbitraries.longs()));
        Arbitrary<Integer> port = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(6, Arbitraries.integers().between(1000, 1003)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers()));
        Arbitrary<Integer> op = Arbitraries.integers().between(0, 9);
        Arbitrary<Integer> type = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(8, Arbitraries.just(1)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, 0xffff)));
        Arbitrary<Integer> len = Arbitraries.oneOf(Arbitraries.integers().between(0, 300), Arbitraries.integers());
        Arbitrary<Integer> credit = Arbitraries.oneOf(Arbitraries.just(0), Arbitraries.integers());
        Arbitrary<VsockHeader> h = Combinators.combine(cid, dst, port, port, len, type, op, credit)
                .as((s, d, sp, dp, l, t, o, c) -> new VsockHeader(s, d, sp, dp, l, t, o, c & 3, c, c >>> 3));
        Arbitrary<Integer> payload = Arbitraries.integers().between(0, 400);
        Arbitrary<Integer> cut = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(9, Arbitraries.just(VsockHeader.SIZE)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, VsockHeader.SIZE)));
        return Combinators.combine(h, payload, cut).as((hh, p, n) -> new Raw(java.util.Arrays.copyOf(hh.encode(), n), p));
    }

    @Property(tries = 40)
    void hostilePacketsNeverBreakTheDeviceNorGrowIt(@ForAll @Size(max = 120) List<@net.jqwik.api.From("packets") Raw> ps)
            throws Exception {
        Path dir = Files.createTempDirectory("vsock-prop");
        try (VsockGuest g = new VsockGuest(dir)) {
            // A real listener on one port, so some REQUESTs open connections the rest of the packets poke at.
            try (var l = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
                l.bind(java.net.UnixDomainSocketAddress.of(dir.resolve("v.sock_1001")));
                g.postRx();
                int i = 0;
                for (Raw r : ps) {
                    g.sendRaw(r.header(), new byte[r.payload()]);
                    while (g.poll() != null) {
                        i++; // the guest collects what it was sent, like a driver would (count unused)
                    }
                }
                g.drv.syncIo();
                assertThat(g.dev.connectionCount()).isLessThanOrEqualTo(VirtioVsock.MAX_CONNECTIONS);
                assertThat(g.dev.controlBacklog()).isLessThanOrEqualTo(VirtioVsock.MAX_CONTROL + 2 * VirtioVsock.MAX_CONNECTIONS);
                g.assertHealthy();
            }
        } finally {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }
}
