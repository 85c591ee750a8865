package io.jkvm.device.virtio.pci;

import io.jkvm.testing.Patience;
import io.jkvm.arch.x86.Layout;
import io.jkvm.device.BusDevice;
import io.jkvm.device.msi.GsiRouter;
import io.jkvm.device.msi.KvmMsiController;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.VirtioRng;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.snapshot.Snapshots;
import io.jkvm.vmm.DeviceStateFormat;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.Machine;
import io.jkvm.vmm.StopReason;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: a 32-bit test guest sets up virtio-rng and completes one request, then waits for
 * the host's go (port 0x540). The machine is paused, its virtio I/O suspended and everything
 * snapshotted; a second machine is restored from the files with fresh device models and the
 * saved PCI and virtio-pci states (built from them: {@link PciConfigIo#restore},
 * {@link VirtioDevices#restore}, states keyed by device id). Given go, the guest's second request is served there: the
 * BAR mapping and the ioeventfd on the notify address came back from the restored config space,
 * and the queue continues at the saved position (used idx 1 → 2).
 */
@Tag("kvm")
class VirtioSnapshotKvmTest {
    private static final long BAR = Layout.PCI_MMIO32_START;
    private static final SnapshotKey KEY = SnapshotKey.of(new byte[32]);

    @TempDir
    Path dir;

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    /** A port the guest writes a report to. */
    static final class Port implements BusDevice {
        final AtomicLong value = new AtomicLong(-1);
        final CountDownLatch written = new CountDownLatch(1);

        public long read(long offset, int size) {
            return 0;
        }

        public void write(long offset, int size, long v) {
            value.set(v);
            written.countDown();
        }
    }

    /** The port the guest polls for the host's go: reads {@code go}. */
    static final class Go implements BusDevice {
        volatile long go;

        public long read(long offset, int size) {
            return go;
        }

        public void write(long offset, int size, long v) {}
    }

    private static final String GUEST = """
            .code32
                mov $0xcf8, %dx
                mov $0x80000804, %eax         # 00:01.0, command register
                out %eax, %dx
                mov $0xcfc, %dx
                mov $0x0006, %ax              # memory space + bus master
                out %ax, %dx
                mov $0xc0000000, %ebx         # BAR 0: common config at +0
                movb $0, 0x14(%ebx)
                movb $1, 0x14(%ebx)
                movb $3, 0x14(%ebx)
                movl $1, 0x08(%ebx)
                movl $1, 0x0c(%ebx)           # VERSION_1
                movb $0xb, 0x14(%ebx)         # FEATURES_OK
                movw $0, 0x16(%ebx)
                movw $8, 0x18(%ebx)
                movl $0x10000, 0x20(%ebx)
                movl $0, 0x24(%ebx)
                movl $0x10080, 0x28(%ebx)
                movl $0, 0x2c(%ebx)
                movl $0x10100, 0x30(%ebx)
                movl $0, 0x34(%ebx)
                movw $1, 0x1c(%ebx)
                movb $0xf, 0x14(%ebx)         # DRIVER_OK
                movl $0x20000, 0x10000        # desc[0]: 16 writable bytes at 0x20000
                movl $0, 0x10004
                movl $16, 0x10008
                movl $2, 0x1000c
                movl $0x20010, 0x10010        # desc[1]: 32 writable bytes at 0x20010
                movl $0, 0x10014
                movl $32, 0x10018
                movl $2, 0x1001c
                movw $0, 0x10084              # avail.ring[0] = 0
                movw $1, 0x10082              # avail.idx = 1
                movw $0, 0x3000(%ebx)         # kick
            wait1:
                movw 0x10102, %ax
                cmp $1, %ax
                jne wait1
                mov 0x10108, %eax
                mov $0x520, %dx
                out %eax, %dx                 # first request done
                mov $0x540, %dx
            go:
                in %dx, %eax
                test %eax, %eax
                jz go
                movw $1, 0x10086              # avail.ring[1] = 1
                movw $2, 0x10082              # avail.idx = 2
                movw $0, 0x3000(%ebx)         # kick (an ioeventfd after the restore too)
            wait2:
                movw 0x10102, %ax
                cmp $2, %ax
                jne wait2
                mov 0x10110, %eax             # used.ring[1].len
                mov $0x550, %dx
                out %eax, %dx
            3:  hlt
                jmp 3b
            """;

    private record Devices(PciRoot root, PciConfigIo io, VirtioDevices virtio, VirtioPciDevice rng) {}

    /** The test's devices, new or (with {@code r}) restored from the saved states. */
    private static Devices wire(Machine m, Port first, Go go, Port second, Snapshots.Restored r) {
        PciRoot root = new PciRoot();
        PciConfigIo io = r == null ? new PciConfigIo(root)
                : PciConfigIo.restore(root, DeviceStateFormat.CODECS.decode(r.device("pci_host"), PciConfigIo.State.class));
        m.pio().register(Layout.PCI_CONFIG_PORT, PciConfigIo.LENGTH, io);
        m.pio().register(0x520, 4, first);
        m.pio().register(0x540, 4, go);
        m.pio().register(0x550, 4, second);
        GsiRouter router = new GsiRouter(m.vm()::setGsiRouting);
        VirtioDevices v = new VirtioDevices(m.memory(), m.mmio(), root, router, new KvmMsiController(m.vm(), router),
                new KvmNotifyRegistrar(m.vm()), m::irqLine);
        VirtioPciDevice rng = r == null ? v.attach(new VirtioRng(), 10, BAR)
                : v.restore("rng0", new VirtioRng(), 10, DeviceStateFormat.CODECS.decode(r.device("rng0"), VirtioPciState.class));
        return new Devices(root, io, v, rng);
    }

    @Test
    void aVirtqueueContinuesOnARestoredMachine() throws Exception {
        byte[] code = TestGuest.assemble(GUEST, 0x1000);
        Path state = dir.resolve("vm.state");
        Path mem = dir.resolve("vm.mem");
        Port first = new Port();
        try (Machine a = Machine.create(new Machine.Options(1, 4 << 20, true, io.jkvm.memory.RamBacking.PAGES))) {
            Devices d = wire(a, first, new Go(), new Port(), null);
            try (VirtioDevices ignored = d.virtio()) {
                TestGuest.startProtectedMode(a.vcpus().get(0), a.memory(), code, 0x1000);
                a.start();
                assertThat(first.written.await(Patience.secondsOf(60), TimeUnit.SECONDS)).as("first request").isTrue();
                assertThat(first.value.get()).isEqualTo(16);
                a.pause();
                d.rng().suspendIo();
                List<DeviceState> states = List.of(
                        DeviceStateFormat.CODECS.encode("pci_host", d.io().save()),
                        DeviceStateFormat.CODECS.encode("rng0", d.rng().save()));
                Snapshots.save(a, states, state, mem, KEY);
                a.requestStop(StopReason.STOPPED, "snapshotted");
            }
        }

        Snapshots.Restored r = Snapshots.restore(state, mem, KEY);
        try (Machine b = r.machine()) {
            Go go = new Go();
            Port second = new Port();
            Devices d = wire(b, new Port(), go, second, r);
            try (VirtioDevices ignored = d.virtio()) {
                assertThat(d.rng().config().mappedAddress(VirtioPciLayout.BAR)).as("BAR decodes again").isEqualTo(BAR);
                b.start();
                go.go = 1;
                if (!second.written.await(Patience.secondsOf(60), TimeUnit.SECONDS)) {
                    // Registers can only be read once the vCPU is out of KVM_RUN (api.rst: vCPU ioctls
                    // wait for a running KVM_RUN), so stop the machine first.
                    b.requestStop(StopReason.STOPPED, "test timeout");
                    b.awaitExit(Patience.seconds(10));
                    throw new AssertionError(String.format("second request not served after the restore: used.idx=%d rip=0x%x",
                            b.memory().readShort(0x10102), b.vcpus().get(0).getRegs().rip()));
                }
                assertThat(second.value.get()).as("used length of the second request").isEqualTo(32);
                assertThat(b.memory().read(0x20010, 32)).isNotEqualTo(new byte[32]);
            }
        }
    }
}
