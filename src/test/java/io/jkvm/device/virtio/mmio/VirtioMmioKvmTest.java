package io.jkvm.device.virtio.mmio;

import io.jkvm.device.BusDevice;
import io.jkvm.device.IrqLine;
import io.jkvm.device.RecordingIrqLine;
import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.EventFd;
import io.jkvm.device.virtio.VirtioRng;
import io.jkvm.device.virtio.pci.KvmNotifyRegistrar;
import io.jkvm.device.virtio.pci.NotifyRegistrar;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.Machine;
import io.jkvm.vmm.StopReason;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct-KVM: a 32-bit test guest finds a virtio-mmio device by its magic value at the base
 * address, as Linux's virtio_mmio probe does, and drives virtio-rng through the version-2
 * registers: status handshake, VERSION_1, queue 0, DRIVER_OK, one 16-byte writable buffer, a
 * kick on QueueNotify (an ioeventfd with a data match on queue 0). It polls the used ring, then
 * InterruptStatus, acknowledges it and reports InterruptStatus on port 0x540 and the used length
 * on port 0x520 (0x530 on a wrong magic, version or refused FEATURES_OK).
 */
@Tag("kvm")
class VirtioMmioKvmTest {
    private static final long BASE = 0xd000_0000L;
    private static final int GSI = 5;

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
    void guestFindsTheDeviceAndCompletesAQueueRoundTrip() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code32
                    mov $0xd0000000, %ebx
                    mov $1, %al
                    cmpl $0x74726976, 0x00(%ebx)  # MagicValue "virt"
                    jne fail
                    mov $2, %al
                    cmpl $2, 0x04(%ebx)           # Version 2
                    jne fail
                    mov $3, %al
                    cmpl $4, 0x08(%ebx)           # DeviceID: entropy
                    jne fail
                    movl $0, 0x70(%ebx)           # reset
                    movl $1, 0x70(%ebx)           # ACKNOWLEDGE
                    movl $3, 0x70(%ebx)           # DRIVER
                    movl $1, 0x24(%ebx)           # DriverFeaturesSel = 1
                    movl $1, 0x20(%ebx)           # VERSION_1 (bit 32)
                    movl $0xb, 0x70(%ebx)         # FEATURES_OK
                    mov 0x70(%ebx), %eax
                    test $8, %al
                    jz fail
                    movl $0, 0x30(%ebx)           # QueueSel
                    movl $8, 0x38(%ebx)           # QueueNum
                    movl $0x10000, 0x80(%ebx)     # QueueDescLow
                    movl $0, 0x84(%ebx)
                    movl $0x10080, 0x90(%ebx)     # QueueDriverLow (avail)
                    movl $0, 0x94(%ebx)
                    movl $0x10100, 0xa0(%ebx)     # QueueDeviceLow (used)
                    movl $0, 0xa4(%ebx)
                    movl $1, 0x44(%ebx)           # QueueReady
                    movl $0xf, 0x70(%ebx)         # DRIVER_OK
                    movl $0x20000, 0x10000        # desc[0].addr
                    movl $0, 0x10004
                    movl $16, 0x10008             # desc[0].len
                    movl $2, 0x1000c              # flags = WRITE, next = 0
                    movw $0, 0x10084              # avail.ring[0] = 0
                    movw $1, 0x10082              # avail.idx = 1
                    movl $0, 0x50(%ebx)           # QueueNotify: queue 0
                wait:
                    movw 0x10102, %ax             # used.idx
                    test %ax, %ax
                    jz wait
                irq:
                    mov 0x60(%ebx), %ecx          # InterruptStatus
                    test %ecx, %ecx
                    jz irq
                    mov %ecx, 0x64(%ebx)          # InterruptACK
                    mov %ecx, %eax
                    mov $0x540, %dx
                    out %eax, %dx
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
            Port done = new Port();
            Port fail = new Port();
            Port irqStatus = new Port();
            m.pio().register(0x520, 4, done);
            m.pio().register(0x530, 1, fail);
            m.pio().register(0x540, 4, irqStatus);

            KvmNotifyRegistrar kvmNotify = new KvmNotifyRegistrar(m.vm());
            List<String> bound = new CopyOnWriteArrayList<>();
            NotifyRegistrar recording = new NotifyRegistrar() {
                @Override
                public Binding bind(long address, int length, EventFd fd) {
                    return null;
                }

                @Override
                public Binding bind(long address, int length, long datamatch, EventFd fd) {
                    Binding b = kvmNotify.bind(address, length, datamatch, fd);
                    if (b != null) {
                        bound.add(Long.toHexString(address) + "/" + length + "=" + datamatch);
                    }
                    return b;
                }
            };
            RecordingIrqLine levels = new RecordingIrqLine();
            IrqLine kvmLine = m.irqLine(GSI);
            IrqLine line = high -> {
                levels.setLevel(high);
                kvmLine.setLevel(high);
            };
            try (VirtioMmioDevice rng = new VirtioMmioDevice(new VirtioRng(), m.memory(), m.mmio(), BASE, line,
                    recording)) {
                assertThat(bound).as("QueueNotify bound for queue 0").containsExactly("d0000050/4=0");
                TestGuest.startProtectedMode(m.vcpus().get(0), m.memory(), code, 0x1000);
                m.start();
                // With an in-kernel irqchip HLT stays in the kernel, so wait for the report, not an exit.
                boolean reported = done.written.await(Patience.secondsOf(60), TimeUnit.SECONDS) || fail.written.getCount() == 0;
                if (!reported) {
                    m.requestStop(StopReason.STOPPED, "test timeout");
                    m.awaitExit(Patience.seconds(10));
                    throw new AssertionError(String.format("guest did not finish: status=%d avail.idx=%d used.idx=%d"
                            + " rip=0x%x", rng.status(), m.memory().readShort(0x10082),
                            m.memory().readShort(0x10102), m.vcpus().get(0).getRegs().rip()));
                }
                assertThat(fail.value.get()).as("magic/version/device/FEATURES_OK check failed (port 0x530)")
                        .isEqualTo(-1);
                assertThat(done.value.get()).as("used length reported by the guest").isEqualTo(16);
                assertThat(irqStatus.value.get()).as("InterruptStatus seen by the guest").isEqualTo(1);
                assertThat(levels.levels()).as("line raised for the used buffer, dropped by InterruptACK")
                        .containsExactly(true, false);
                assertThat(rng.status()).isEqualTo(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER
                        | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK);
                assertThat(m.memory().read(0x20000, 16)).isNotEqualTo(new byte[16]);
            }
        }
    }
}
