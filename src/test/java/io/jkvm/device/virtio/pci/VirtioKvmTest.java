package io.jkvm.device.virtio.pci;

import io.jkvm.testing.Patience;
import io.jkvm.arch.x86.Layout;
import io.jkvm.device.BusDevice;
import io.jkvm.device.msi.GsiRouter;
import io.jkvm.device.msi.KvmMsiController;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.VirtioRng;
import io.jkvm.kvm.IrqRoute;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.Machine;
import io.jkvm.vmm.StopReason;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct-KVM: a 32-bit test guest drives virtio-rng end to end on a real {@link Machine}. It
 * enables the function through PCI configuration mechanism #1 (ports 0xCF8/0xCFC), negotiates
 * VERSION_1, sets up queue 0 and DRIVER_OK through BAR 0, posts one 16-byte writable buffer,
 * kicks the notify address (bound to an ioeventfd) and polls the used ring; it reports the used
 * length on port 0x520 (0x530 if FEATURES_OK was refused). The host pre-assigns the BAR address, as firmware would.
 */
@Tag("kvm")
class VirtioKvmTest {
    private static final long BAR = Layout.PCI_MMIO32_START;

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    /** A report port: records the value and releases waiters. */
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

    @Test
    void guestReadsRandomBytesThroughVirtioRng() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code32
                    mov $0xcf8, %dx
                    mov $0x80000804, %eax         # 00:01.0, command register
                    out %eax, %dx
                    mov $0xcfc, %dx
                    mov $0x0006, %ax              # memory space + bus master
                    out %ax, %dx
                    mov $0xc0000000, %ebx         # BAR 0: common config at +0
                    movb $0, 0x14(%ebx)           # reset
                    movb $1, 0x14(%ebx)           # ACKNOWLEDGE
                    movb $3, 0x14(%ebx)           # DRIVER
                    movl $1, 0x08(%ebx)           # driver_feature_select = 1
                    movl $1, 0x0c(%ebx)           # VERSION_1 (bit 32)
                    movb $0xb, 0x14(%ebx)         # FEATURES_OK
                    movb 0x14(%ebx), %al
                    test $8, %al
                    jz fail
                    movw $0, 0x16(%ebx)           # queue_select
                    movw $8, 0x18(%ebx)           # queue_size
                    movl $0x10000, 0x20(%ebx)     # queue_desc
                    movl $0, 0x24(%ebx)
                    movl $0x10080, 0x28(%ebx)     # queue_driver (avail)
                    movl $0, 0x2c(%ebx)
                    movl $0x10100, 0x30(%ebx)     # queue_device (used)
                    movl $0, 0x34(%ebx)
                    movw $1, 0x1c(%ebx)           # queue_enable
                    movb $0xf, 0x14(%ebx)         # DRIVER_OK
                    movl $0x20000, 0x10000        # desc[0].addr
                    movl $0, 0x10004
                    movl $16, 0x10008             # desc[0].len
                    movl $2, 0x1000c              # flags = WRITE, next = 0
                    movw $0, 0x10084              # avail.ring[0] = 0
                    movw $1, 0x10082              # avail.idx = 1
                    movw $0, 0x3000(%ebx)         # kick queue 0
                wait:
                    movw 0x10102, %ax             # used.idx
                    test %ax, %ax
                    jz wait
                    mov 0x10108, %eax             # used.ring[0].len
                    mov $0x520, %dx
                    out %eax, %dx
                    hlt
                fail:
                    mov $0x530, %dx
                    out %al, %dx
                    hlt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 4 << 20, true, io.jkvm.memory.RamBacking.PAGES))) {
            PciRoot root = new PciRoot();
            m.pio().register(Layout.PCI_CONFIG_PORT, PciConfigIo.LENGTH, new PciConfigIo(root));
            Port done = new Port();
            Port fail = new Port();
            m.pio().register(0x520, 4, done);
            m.pio().register(0x530, 1, fail);

            GsiRouter router = new GsiRouter(m.vm()::setGsiRouting);
            KvmNotifyRegistrar kvmNotify = new KvmNotifyRegistrar(m.vm());
            AtomicBoolean ioeventfdBound = new AtomicBoolean();
            NotifyRegistrar recording = (address, length, fd) -> {
                NotifyRegistrar.Binding b = kvmNotify.bind(address, length, fd);
                ioeventfdBound.compareAndSet(false, b != null && address == BAR + VirtioPciLayout.NOTIFY_OFFSET);
                return b;
            };
            try (VirtioDevices virtio = new VirtioDevices(m.memory(), m.mmio(), root, router,
                    new KvmMsiController(m.vm(), router), recording, m::irqLine)) {
                VirtioPciDevice rng = virtio.attach(new VirtioRng(), 10, BAR);
                assertThat(root.devices()).hasSize(2);
                // MSI routes were committed together with KVM's default irqchip routes.
                assertThat(router.routes()).contains(new IrqRoute.Irqchip(4, IrqRoute.CHIP_PIC_MASTER, 4),
                        new IrqRoute.Irqchip(23, IrqRoute.CHIP_IOAPIC, 23));
                assertThat(router.routes().stream().filter(r -> r instanceof IrqRoute.Msi)).hasSize(2);

                TestGuest.startProtectedMode(m.vcpus().get(0), m.memory(), code, 0x1000);
                m.start();
                // With an in-kernel irqchip HLT stays in the kernel, so wait for the report, not an exit.
                boolean reported = done.written.await(Patience.secondsOf(60), TimeUnit.SECONDS) || fail.written.getCount() == 0;
                if (!reported) {
                    m.requestStop(StopReason.STOPPED, "test timeout");
                    m.awaitExit(Patience.seconds(10));
                    throw new AssertionError(String.format("guest did not finish: status=%d avail.idx=%d used.idx=%d"
                            + " ioeventfd=%s rip=0x%x", rng.status(), m.memory().readShort(0x10082),
                            m.memory().readShort(0x10102), ioeventfdBound, m.vcpus().get(0).getRegs().rip()));
                }
                assertThat(fail.value.get()).as("FEATURES_OK refused (port 0x530)").isEqualTo(-1);
                assertThat(done.value.get()).as("used length reported by the guest").isEqualTo(16);
                assertThat(ioeventfdBound).as("kick went through an ioeventfd").isTrue();
                assertThat(rng.status()).isEqualTo(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER
                        | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK);
                byte[] random = m.memory().read(0x20000, 16);
                assertThat(random).isNotEqualTo(new byte[16]);
            }
        }
    }
}
