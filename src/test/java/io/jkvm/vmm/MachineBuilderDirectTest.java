package io.jkvm.vmm;

import io.jkvm.arch.x86.X86VcpuSetup;
import io.jkvm.arch.x86.boot.ElfBuilder;
import io.jkvm.arch.x86.cpuid.CpuTemplate;
import io.jkvm.config.BalloonConfig;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VirtioTransport;
import io.jkvm.config.VmConfig;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.display.SwitchableInputSink;
import io.jkvm.kvm.Kvm;
import io.jkvm.memory.RamBacking;
import io.jkvm.resources.NanoClock;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.Snapshots;
import io.jkvm.storage.DiskConfig;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Direct-KVM: {@link MachineBuilder} builds a booted machine and a restored one by the same path.
 * The devices of a machine built from another's captured states capture the same states, id by
 * id; a snapshot with a device this VM lacks, without one it has, or with a state its device
 * refuses is turned away naming the device, and the restored machine is closed with it. Nothing
 * here starts a vCPU: these are the seams boot, restore and incoming migration share.
 */
@Tag("kvm")
class MachineBuilderDirectTest {
    private static final long LOAD = 0x100_0000;

    @TempDir Path dir;
    private Kvm kvm;
    private final List<MachineBuilder.Built> built = new ArrayList<>();

    @BeforeEach
    void open() {
        KvmAvailable.assume();
        kvm = Kvm.open();
    }

    @AfterEach
    void close() {
        built.forEach(MachineBuilder.Built::close);
        if (kvm != null) {
            kvm.close();
        }
    }

    private VmConfig config() throws Exception {
        byte[] code = TestGuest.assemble(".code32\n1: hlt\n jmp 1b\n", LOAD);
        ElfBuilder elf = new ElfBuilder().load(LOAD, code, 0x1000);
        elf.pvhEntry = LOAD;
        Path kernel = Files.write(dir.resolve("vmlinux"), elf.build());
        Path disk = dir.resolve("disk.raw");
        Files.write(disk, new byte[1 << 20]);
        DeviceConfig devices = new DeviceConfig(List.of(new DiskConfig(disk, false, "rootfs")), List.of(), true, false,
                null, new BalloonConfig(4, false, 0));
        return new VmConfig(kernel, Optional.empty(), "console=ttyS0", 2, 32L << 20, OnReboot.EXIT, false, devices,
                VirtioTransport.PCI);
    }

    private static MachineBuilder builder(Kvm kvm, VmConfig c) {
        return builder(kvm, c, new Serial16550(high -> { }, new ByteArrayOutputStream()));
    }

    /**
     * The UART outlives machines, so a VM builds it before its first machine, from the saved
     * states when it restores ({@link LinuxVm} does the same).
     */
    private static MachineBuilder restoringBuilder(Kvm kvm, VmConfig c, SavedDevices saved) {
        return builder(kvm, c, saved.restore(DeviceManager.SERIAL, Serial16550.State.class,
                st -> Serial16550.restore(high -> { }, new ByteArrayOutputStream(), st)));
    }

    private static MachineBuilder builder(Kvm kvm, VmConfig c, Serial16550 uart) {
        DeviceConfig d = c.devices();
        DeviceManager.Shared shared = new DeviceManager.Shared(uart,
                new LinuxVm.Console(new ByteArrayInputStream(new byte[0]), new ByteArrayOutputStream(), false),
                new DeviceCounters(), new DeviceThrottles(d, DeviceManager.virtioIds(d), NanoClock.SYSTEM),
                new ConcurrentHashMap<>(), new SwitchableInputSink(), null, null);
        return new MachineBuilder(kvm, shared);
    }

    private MachineBuilder.Settings settings(VmConfig c) {
        return new MachineBuilder.Settings(RamBacking.PAGES, false, false,
                new X86VcpuSetup.CpuModel(kvm.supportedCpuid(), c.nested(), CpuTemplate.NONE));
    }

    private MachineBuilder.Built keep(MachineBuilder.Built b) {
        built.add(b);
        return b;
    }

    private void release(MachineBuilder.Built b) {
        built.remove(b);
        b.close();
    }

    private Machine bareMachine(VmConfig c) {
        return Machine.create(kvm, new Machine.Options(c.cpus(), c.memoryBytes(), true, RamBacking.PAGES));
    }

    private static Snapshots.Restored restored(Machine m, List<DeviceState> states) {
        return new Snapshots.Restored(m, states, Duration.ZERO, Duration.ZERO, Duration.ZERO);
    }

    @Test
    void aMachineBuiltFromCapturedStatesCapturesTheSameStatesIdById() throws Exception {
        VmConfig c = config();
        MachineBuilder builder = builder(kvm, c);
        AtomicInteger hookRuns = new AtomicInteger();
        MachineBuilder.Built boot = keep(builder.build(c, settings(c), null, null, null, cfg -> {
            assertThat(cfg).isSameAs(c);
            hookRuns.incrementAndGet();
        }));
        assertThat(hookRuns).hasValue(1);
        assertThat(boot.devices().functions().keySet()).containsExactly("drive/rootfs", "rng0", "balloon0");
        assertThat(boot.devices().balloon()).isNotNull();
        assertThat(boot.devices().keyboard()).isNotNull();
        // The boot CPU starts where the kernel's PVH note says (X86VcpuSetup after X86BootSetup).
        assertThat(boot.machine().vcpus().getFirst().getRegs().rip()).isEqualTo(LOAD);
        List<DeviceState> saved = boot.devices().capture();
        assertThat(saved).extracting(DeviceState::name).containsExactly(
                DeviceManager.SERIAL, DeviceManager.I8042_ID, DeviceManager.RTC, DeviceManager.ACPI_PM,
                DeviceManager.PCI_HOST, "drive/rootfs", "rng0", "balloon0");
        // Closed first: the restored drive takes the image's lock as a destination VMM would.
        release(boot);

        // The same configuration restored onto a fresh machine: the states are taken by id,
        // whatever their order in the snapshot.
        List<DeviceState> shuffled = new ArrayList<>(saved);
        java.util.Collections.reverse(shuffled);
        SavedDevices fromSnapshot = new SavedDevices(shuffled, Set.of());
        MachineBuilder.Built restore = keep(restoringBuilder(kvm, c, fromSnapshot).build(c, settings(c), null,
                restored(bareMachine(c), shuffled), fromSnapshot, null));
        List<DeviceState> again = restore.devices().capture();
        assertThat(again).extracting(DeviceState::name).containsExactlyElementsOf(saved.stream().map(DeviceState::name).toList());
        for (int i = 0; i < saved.size(); i++) {
            assertThat(again.get(i).bytes()).as(saved.get(i).name()).isEqualTo(saved.get(i).bytes());
        }
    }

    @Test
    void aSnapshotThatDoesNotFitTheDevicesIsRefusedNamingTheDeviceAndItsMachineIsClosed() throws Exception {
        VmConfig c = config();
        MachineBuilder builder = builder(kvm, c);
        MachineBuilder.Built boot = keep(builder.build(c, settings(c), null, null, null, null));
        List<DeviceState> saved = boot.devices().capture();
        release(boot);

        List<DeviceState> extra = new ArrayList<>(saved);
        extra.add(DeviceState.of("vsock0", saved.getLast().bytes()));
        Machine m1 = bareMachine(c);
        assertThatThrownBy(() -> restoreOnto(m1, c, extra))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("lacks").hasMessageContaining("vsock0");
        assertThat(Machine.openMachines()).doesNotContain(m1);

        List<DeviceState> missing = saved.stream().filter(s -> !s.name().equals("rng0")).toList();
        Machine m2 = bareMachine(c);
        assertThatThrownBy(() -> restoreOnto(m2, c, missing))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("no state for device rng0");
        assertThat(Machine.openMachines()).doesNotContain(m2);

        // The rng's state given to the balloon: decoded, and refused by the balloon's restore.
        List<DeviceState> swapped = saved.stream()
                .map(s -> s.name().equals("balloon0") ? DeviceState.of("balloon0", byName(saved, "rng0").bytes()) : s).toList();
        Machine m3 = bareMachine(c);
        assertThatThrownBy(() -> restoreOnto(m3, c, swapped))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("balloon0");
        assertThat(Machine.openMachines()).doesNotContain(m3);
    }

    /** Builds a machine of {@code c} restored onto {@code m} from {@code states}, as {@link LinuxVm} does. */
    private void restoreOnto(Machine m, VmConfig c, List<DeviceState> states) throws Exception {
        SavedDevices saved = new SavedDevices(states, Set.of());
        MachineBuilder builder;
        try {
            builder = restoringBuilder(kvm, c, saved);
        } catch (RuntimeException e) {
            m.close(); // what LinuxVm does when the UART's own state is refused, before the builder runs
            throw e;
        }
        // From here on a refusal is the builder's to clean up, the restored machine included.
        keep(builder.build(c, settings(c), null, restored(m, states), saved, null));
    }

    private static DeviceState byName(List<DeviceState> states, String name) {
        return states.stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow();
    }
}
