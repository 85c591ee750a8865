package io.jkvm.snapshot;

import io.jkvm.device.legacy.CmosRtc;
import io.jkvm.device.legacy.I8042;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.VirtioRng;
import io.jkvm.device.virtio.VirtioDriver;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

import java.time.Clock;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Hostile device states: random bytes and mutated valid encodings, decoded and applied to real
 * device models, are accepted or refused with {@link SnapshotException} or
 * IllegalArgumentException - never another exception (a snapshot is attacker-controlled until
 * authenticated, and the key holder may be hostile too).
 */
class DeviceStateProperties {
    private record Codec(String name, byte[] valid, Consumer<byte[]> apply) {}

    private static List<Codec> codecs() {
        return List.of(
                new Codec("i8042", I8042DeviceState.encode(DeviceStateCodecTest.i8042()),
                        b -> I8042DeviceState.apply(DeviceState.of("i8042", b), new I8042(h -> { }, h -> { }, () -> { }))),
                new Codec("rtc", CmosRtcDeviceState.encode(DeviceStateCodecTest.rtc()),
                        b -> CmosRtcDeviceState.apply(DeviceState.of("rtc", b), new CmosRtc(Clock.systemUTC(), 1 << 20, 0))),
                new Codec("acpi_pm", AcpiPmDeviceState.capture("acpi_pm").bytes(), b -> AcpiPmDeviceState.apply(DeviceState.of("acpi_pm", b))),
                new Codec("pci_host", pciHost(), b -> {
                    PciRoot root = new PciRoot();
                    PciHostDeviceState.apply(DeviceState.of("pci_host", b), new PciConfigIo(root),
                            root.device(0, 0, 0).orElseThrow().config());
                }),
                new Codec("vm_config", VmConfigState.capture(DeviceStateCodecTest.vmConfig()).bytes(),
                        b -> VmConfigState.decode(DeviceState.of("vm_config", b))),
                new Codec("virtio", realVirtio(), DeviceStateProperties::applyVirtio),
                new Codec("serial0", SerialDeviceState.encode(new io.jkvm.device.legacy.Serial16550(h -> { },
                        java.io.OutputStream.nullOutputStream()).state()), b -> SerialDeviceState.decode("serial0", b)));
    }

    private static byte[] pciHost() {
        PciRoot root = new PciRoot();
        return PciHostDeviceState.capture("pci_host", new PciConfigIo(root), root.device(0, 0, 0).orElseThrow().config()).bytes();
    }

    /** A live rng function's state (queue 0 enabled at 0x1000, nothing used yet, so fresh memory fits it). */
    private static byte[] realVirtio() {
        try (VirtioDriver d = new VirtioDriver(new VirtioRng(new Random(1)))) {
            d.enableMsix();
            d.negotiate(io.jkvm.device.virtio.VirtioFeatures.bit(io.jkvm.device.virtio.VirtioFeatures.VERSION_1)
                    | io.jkvm.device.virtio.VirtioFeatures.bit(io.jkvm.device.virtio.VirtioFeatures.RING_EVENT_IDX));
            d.setupQueue(0, 0x1000, 16, 0);
            d.driverOk();
            d.dev.suspendIo();
            return VirtioPciDeviceState.capture("virtio0", d.dev).bytes();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Decodes and applies to a real virtio-rng transport over test memory. */
    private static void applyVirtio(byte[] b) {
        try (VirtioDriver d = new VirtioDriver(new VirtioRng(new Random(1)))) {
            VirtioPciDeviceState.apply(DeviceState.of("virtio0", b), d.dev);
        }
    }

    private static String check(Codec c, byte[] bytes) {
        try {
            c.apply().accept(bytes);
            return "accepted";
        } catch (SnapshotException e) {
            return "SnapshotException";
        } catch (IllegalArgumentException e) {
            return "IllegalArgumentException";
        }
    }

    @net.jqwik.api.Example
    void everyValidEncodingIsAccepted() {
        for (Codec c : codecs()) {
            org.assertj.core.api.Assertions.assertThat(check(c, c.valid())).as(c.name()).isEqualTo("accepted");
        }
    }

    @Property(tries = 300)
    void randomBytesAreRefusedCleanly(@ForAll("codec") int which, @ForAll @Size(max = 600) byte[] bytes) {
        check(codecs().get(which), bytes);
    }

    @Property(tries = 1000)
    @net.jqwik.api.statistics.StatisticsReport(onFailureOnly = true)
    void mutatedValidEncodingsAreAcceptedOrRefusedCleanly(@ForAll("codec") int which, @ForAll("edits") List<int[]> edits,
            @ForAll("cuts") int cut) {
        Codec c = codecs().get(which);
        byte[] b = c.valid().clone();
        for (int[] e : edits) {
            b[Math.floorMod(e[0], b.length)] = (byte) e[1];
        }
        if (cut > 0 && cut < b.length) {
            b = java.util.Arrays.copyOf(b, b.length - cut);
        }
        net.jqwik.api.statistics.Statistics.collect(c.name(), check(c, b));
    }

    @Provide
    Arbitrary<Integer> codec() {
        return Arbitraries.integers().between(0, 6);
    }

    @Provide
    Arbitrary<List<int[]>> edits() {
        Arbitrary<int[]> edit = Arbitraries.integers().between(0, 1 << 16).flatMap(at ->
                Arbitraries.integers().between(0, 255).map(v -> new int[] {at, v}));
        return edit.list().ofMinSize(1).ofMaxSize(4);
    }

    @Provide
    Arbitrary<Integer> cuts() {
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, Arbitraries.just(0)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(1, 40)));
    }
}
