package io.jkvm.vmm;

import io.jkvm.device.legacy.AcpiPmDevice;
import io.jkvm.device.legacy.CmosRtc;
import io.jkvm.device.legacy.I8042;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.GuardedMemory;
import io.jkvm.device.virtio.VirtioBlock;
import io.jkvm.device.virtio.VirtioConsole;
import io.jkvm.device.virtio.VirtioDriver;
import io.jkvm.device.virtio.VirtioNet;
import io.jkvm.device.virtio.VirtioRng;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.VmConfigState;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

import java.io.OutputStream;
import java.time.Clock;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Hostile device states: random bytes and mutated valid encodings, decoded through the device
 * section's registry ({@link DeviceStateFormat}) and built into real devices the way a restore
 * does ({@link SavedDevices}), are accepted or refused with a {@link SnapshotException} - never
 * another exception (a snapshot is attacker-controlled until authenticated, and the key holder
 * may be hostile too; a migration stream is hostile input).
 */
class DeviceStateFormatProperties {
    private record Codec(String name, byte[] valid, Consumer<byte[]> apply) {}

    private static <S extends Record> Consumer<byte[]> build(String id, Class<S> type, java.util.function.Function<S, ?> restore) {
        return b -> new SavedDevices(List.of(DeviceState.of(id, b)), Set.of()).restore(id, type, restore);
    }

    private static byte[] valid(String id, Record state) {
        return DeviceStateFormat.CODECS.encode(id, state).bytes();
    }

    static List<Codec> codecs() {
        return List.of(
                new Codec("i8042", valid("i8042", DeviceStateFormatTest.i8042()),
                        build("i8042", I8042.State.class, s -> I8042.restore(h -> { }, h -> { }, () -> { }, s))),
                new Codec("rtc", valid("rtc", DeviceStateFormatTest.rtc()),
                        build("rtc", CmosRtc.State.class, s -> CmosRtc.restore(Clock.systemUTC(), 1 << 20, 0, s))),
                new Codec("acpi_pm", valid("acpi_pm", new AcpiPmDevice.State()),
                        build("acpi_pm", AcpiPmDevice.State.class, s -> AcpiPmDevice.restore(() -> { }, () -> { }, s))),
                new Codec("pci_host", valid("pci_host", new PciConfigIo(new PciRoot()).save()),
                        build("pci_host", PciConfigIo.State.class, s -> PciConfigIo.restore(new PciRoot(), s))),
                new Codec("vm_config", VmConfigState.capture(DeviceStateFormatTest.vmConfig()).bytes(),
                        b -> VmConfigState.decode(DeviceState.of("vm_config", b))),
                new Codec("rng0", realVirtio(), DeviceStateFormatProperties::applyVirtio),
                new Codec("serial0", valid("serial0", DeviceStateFormatTest.serial()),
                        build("serial0", Serial16550.State.class, s -> Serial16550.restore(h -> { }, OutputStream.nullOutputStream(), s))),
                new Codec("net", valid("net/x", new VirtioNet.State(new int[] {3, 1})),
                        build("net/x", VirtioNet.State.class, s -> s)),
                new Codec("blk", valid("drive/x", new VirtioBlock.State(1 << 20, false)),
                        build("drive/x", VirtioBlock.State.class, s -> s)),
                new Codec("console", valid("console0", new VirtioConsole.State(new byte[] {'h', 'i'})),
                        build("console0", VirtioConsole.State.class, s -> s)),
                new Codec("mmds", valid("mmds", new io.jkvm.mmds.MmdsState(io.jkvm.mmds.LinkLocal.DEFAULT,
                        io.jkvm.mmds.MmdsVersion.V2, true, List.of("eth0", "eth1"), List.of("tap0", "tap1"))),
                        build("mmds", io.jkvm.mmds.MmdsState.class, s -> s)),
                new Codec("balloon", valid("balloon0", new io.jkvm.device.virtio.VirtioBalloon.State(512, 256, 1,
                        io.jkvm.device.virtio.BalloonStatistics.NONE.with(4, 1 << 20), 3)),
                        build("balloon0", io.jkvm.device.virtio.VirtioBalloon.State.class, s -> s)));
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
            return valid("rng0", d.dev.save());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Decodes and builds a real virtio-rng function over test memory, as a restore does. */
    private static void applyVirtio(byte[] b) {
        VirtioPciState s = new SavedDevices(List.of(DeviceState.of("rng0", b)), Set.of()).take("rng0", VirtioPciState.class);
        GuardedMemory gm = new GuardedMemory();
        VirtioDriver d;
        try {
            d = VirtioDriver.restored(new VirtioRng(new Random(1)), gm, s);
        } catch (RuntimeException e) {
            gm.close();
            throw e;
        }
        d.close();
    }

    private static String check(Codec c, byte[] bytes) {
        try {
            c.apply().accept(bytes);
            return "accepted";
        } catch (SnapshotException e) {
            return "SnapshotException";
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

    /** Random fields behind a valid version and kind, so every codec's reader sees hostile input. */
    @Property(tries = 500)
    void randomFieldsOfEveryKindAreRefusedCleanly(@ForAll("codec") int which, @ForAll @Size(max = 600) byte[] fields) {
        Codec c = codecs().get(which);
        byte[] valid = c.valid();
        int header = 1 + 2 + (((valid[1] & 0xff) << 8) | (valid[2] & 0xff)); // u8 version, u16 kind length, kind
        byte[] b = java.util.Arrays.copyOf(valid, header + fields.length);
        System.arraycopy(fields, 0, b, header, fields.length);
        check(c, b);
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
        return Arbitraries.integers().between(0, codecs().size() - 1);
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
