package io.jkvm.snapshot;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.statistics.StatisticsReport;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hostile input: whatever bytes the state-file parser gets, it either decodes them or throws
 * {@link SnapshotException} - never another exception, never an unbounded allocation. Mutations
 * are re-signed with the key, so they reach the header, section and state parsers behind the MAC
 * (a key holder can still be hostile).
 */
class SnapshotParserProperties {
    private static final Path NAME = Path.of("fuzz.state");
    private static final byte[] VALID = validContainer();

    private static byte[] validContainer() {
        try {
            Path dir = Files.createTempDirectory("jkvm-snap-prop");
            Path s = dir.resolve("s"), m = dir.resolve("m");
            SnapshotFixtures.write(SnapshotFixtures.state(2, true), 1, s, m, SnapshotFixtures.KEY,
                    Protection.HMAC_SHA256, List.of(DeviceState.of("serial0", new byte[] {1, 2, 3})));
            byte[] b = Files.readAllBytes(s);
            Files.delete(s);
            Files.delete(m);
            Files.delete(dir);
            return b;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Property(tries = 300)
    void randomBytesAreRefusedCleanly(@ForAll @Size(max = 4096) byte[] content) {
        parseExpectingOnlySnapshotException(content);
    }

    @Property(tries = 300)
    void randomBytesBehindAValidMagicAreRefusedCleanly(@ForAll @Size(max = 2048) byte[] tail) {
        byte[] c = Arrays.copyOf(SnapshotFile.MAGIC, 8 + tail.length);
        System.arraycopy(tail, 0, c, 8, tail.length);
        parseExpectingOnlySnapshotException(c);
        parseExpectingOnlySnapshotException(resign(c));
    }

    @Property(tries = 1000)
    @StatisticsReport(onFailureOnly = true)
    void mutatedAndResignedContainersAreDecodedOrRefusedCleanly(@ForAll("mutations") List<int[]> edits) {
        byte[] c = VALID.clone();
        for (int[] e : edits) {
            int at = Math.floorMod(e[0], c.length - SnapshotFile.MAC_BYTES);
            c[at] = (byte) e[1];
        }
        String outcome = parseExpectingOnlySnapshotException(resign(c));
        Statistics.collect(outcome);
    }

    /** The re-signed mutations must reach every parser layer, not just stop at the framing. */
    @Property(tries = 1000)
    @StatisticsReport(onFailureOnly = true)
    void mutationsReachEveryParserLayer(@ForAll("mutations") List<int[]> edits) {
        byte[] c = VALID.clone();
        for (int[] e : edits) {
            int at = Math.floorMod(e[0], c.length - SnapshotFile.MAC_BYTES);
            c[at] = (byte) e[1];
        }
        Statistics.collect(parseExpectingOnlySnapshotException(resign(c)));
        Statistics.coverage(cov -> {
            cov.check("header").count(n -> n > 0);
            cov.check("kvm state").count(n -> n > 0);
            cov.check("framing").count(n -> n > 0);
        });
    }

    @Property(tries = 300)
    void truncatedAndResignedContainersAreRefusedCleanly(@ForAll("cuts") int cut) {
        int len = Math.max(0, VALID.length - 1 - Math.floorMod(cut, VALID.length));
        byte[] c = Arrays.copyOf(VALID, len);
        parseExpectingOnlySnapshotException(c);
        if (c.length >= SnapshotFile.MAC_BYTES) {
            parseExpectingOnlySnapshotException(resign(c));
        }
    }

    @Property(tries = 500)
    void theVmStateCodecRefusesGarbageCleanly(@ForAll @Size(max = 8192) byte[] section) {
        try {
            KvmStateCodec.decode(new MachineConfig(1, 1 << 20, false), section, 0, section.length, NAME);
        } catch (SnapshotException expected) {
            assertThat(expected.getMessage()).startsWith(NAME.toString());
        }
    }

    @Provide
    Arbitrary<List<int[]>> mutations() {
        Arbitrary<int[]> edit = Arbitraries.integers().between(0, Integer.MAX_VALUE)
                .flatMap(pos -> Arbitraries.integers().between(0, 255).map(v -> new int[] {pos, v}));
        return edit.list().ofMinSize(1).ofMaxSize(8);
    }

    @Provide
    Arbitrary<Integer> cuts() {
        return Arbitraries.integers().between(0, Integer.MAX_VALUE);
    }

    /** Recomputes the trailing MAC so the content passes authentication. */
    private static byte[] resign(byte[] c) {
        if (c.length < SnapshotFile.MAC_BYTES) {
            return c;
        }
        byte[] out = c.clone();
        var mac = SnapshotFixtures.KEY.newMac();
        mac.update(out, 0, out.length - SnapshotFile.MAC_BYTES);
        System.arraycopy(mac.doFinal(), 0, out, out.length - SnapshotFile.MAC_BYTES, SnapshotFile.MAC_BYTES);
        return out;
    }

    /** Parses; returns which layer refused ("decoded" if none did). */
    private static String parseExpectingOnlySnapshotException(byte[] content) {
        try {
            Snapshots.decode(NAME, content, SnapshotFixtures.KEY);
            return "decoded";
        } catch (SnapshotException expected) {
            assertThat(expected.file()).isEqualTo(NAME);
            String p = expected.problem();
            if (p.startsWith("header") || p.startsWith("section") || p.contains("payload bytes belong")) {
                return "header";
            }
            if (p.startsWith("kvm state section") || p.startsWith("MSR list") || p.startsWith("CPUID list")) {
                return "kvm state";
            }
            return "framing";
        }
    }
}
