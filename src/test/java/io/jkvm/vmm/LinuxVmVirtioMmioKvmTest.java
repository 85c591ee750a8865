package io.jkvm.vmm;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.VirtioMmioSlots;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.arch.x86.acpi.Dsdt;
import io.jkvm.arch.x86.boot.ElfBuilder;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VirtioTransport;
import io.jkvm.config.VmConfig;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.snapshot.Snapshots;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Direct-KVM: a {@link LinuxVm} with {@code --virtio-transport mmio} and a virtio-rng device,
 * booted through the machine's normal attach path. The PVH test kernel finds the device at
 * virtio-mmio slot 0 by its magic value, sets it up through the version-2 registers, completes
 * one request and prints {@code rng ok}; the command line it was given declares the device.
 * Then the VM is snapshotted, a second VM is restored from it, and the restored guest completes
 * a second request on the restored queue ({@code rng again ok}).
 */
@Tag("kvm")
class LinuxVmVirtioMmioKvmTest {
    private static final long LOAD = 0x100_0000;
    /** The guest spins here after the first request until it reads 1 (written by the test while paused). */
    private static final long GO = 0x30_0000;

    @TempDir Path dir;

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    /** Console output, with a latch per expected line. */
    static final class Console extends OutputStream {
        private final StringBuilder text = new StringBuilder();
        private final String wanted;
        final CountDownLatch seen = new CountDownLatch(1);

        Console(String wanted) {
            this.wanted = wanted;
        }

        @Override
        public synchronized void write(int b) {
            text.append((char) b);
            if (text.indexOf(wanted) >= 0) {
                seen.countDown();
            }
        }

        synchronized String text() {
            return text.toString();
        }
    }

    private Path kernel() throws Exception {
        String src = String.format("""
                .code32
                    mov $0x%x, %%ebx
                    cmpl $0x74726976, 0x00(%%ebx)  # MagicValue "virt"
                    jne fail
                    cmpl $2, 0x04(%%ebx)           # Version 2
                    jne fail
                    cmpl $4, 0x08(%%ebx)           # DeviceID: entropy
                    jne fail
                    movl $0, 0x70(%%ebx)
                    movl $1, 0x70(%%ebx)           # ACKNOWLEDGE
                    movl $3, 0x70(%%ebx)           # DRIVER
                    movl $1, 0x24(%%ebx)           # DriverFeaturesSel = 1
                    movl $1, 0x20(%%ebx)           # VERSION_1
                    movl $0xb, 0x70(%%ebx)         # FEATURES_OK
                    testb $8, 0x70(%%ebx)
                    jz fail
                    movl $0, 0x30(%%ebx)           # QueueSel 0
                    movl $8, 0x38(%%ebx)           # QueueNum
                    movl $0x200000, 0x80(%%ebx)    # desc
                    movl $0, 0x84(%%ebx)
                    movl $0x200080, 0x90(%%ebx)    # avail
                    movl $0, 0x94(%%ebx)
                    movl $0x200100, 0xa0(%%ebx)    # used
                    movl $0, 0xa4(%%ebx)
                    movl $1, 0x44(%%ebx)           # QueueReady
                    movl $0xf, 0x70(%%ebx)         # DRIVER_OK
                    movl $0x201000, 0x200000       # desc[0]: 16 writable bytes
                    movl $0, 0x200004
                    movl $16, 0x200008
                    movl $2, 0x20000c
                    movw $0, 0x200084              # avail.ring[0] = desc 0
                    movw $1, 0x200082              # avail.idx = 1
                    movl $0, 0x50(%%ebx)           # QueueNotify
                    mov $1, %%ecx
                    call complete
                    mov $ok, %%esi
                    call print
                go:
                    cmpl $1, 0x%x
                    jne go
                    movw $0, 0x200086              # avail.ring[1] = desc 0
                    movw $2, 0x200082              # avail.idx = 2
                    movl $0, 0x50(%%ebx)
                    mov $2, %%ecx
                    call complete
                    mov $again, %%esi
                    call print
                    cli
                1:  hlt
                    jmp 1b
                # waits for used.idx == %%ecx, checks the length, then InterruptStatus bit 0, and acknowledges it
                complete:
                    cmpw %%cx, 0x200102
                    jne complete
                    mov %%ecx, %%eax
                    dec %%eax
                    cmpl $16, 0x200108(,%%eax,8)   # used.ring[idx-1].len
                    jne fail
                2:  mov 0x60(%%ebx), %%eax
                    test $1, %%eax
                    jz 2b
                    mov %%eax, 0x64(%%ebx)         # InterruptACK
                    ret
                fail:
                    mov $bad, %%esi
                    call print
                    cli
                3:  hlt
                    jmp 3b
                %s
                ok: .asciz "rng ok\\n"
                again: .asciz "rng again ok\\n"
                bad: .asciz "rng bad\\n"
                """, VirtioMmioSlots.base(0), GO, TestGuest.SERIAL_PRINT);
        byte[] code = TestGuest.assemble(src, LOAD);
        ElfBuilder elf = new ElfBuilder().load(LOAD, code, 0x1000);
        elf.pvhEntry = LOAD;
        return Files.write(dir.resolve("mmio-rng-vmlinux"), elf.build());
    }

    private static LinuxVm vm(VmConfig c, Console out) {
        return new LinuxVm(c, new LinuxVm.Console(new ByteArrayInputStream(new byte[0]), out, false));
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static void await(Console out, LinuxVm vm) throws Exception {
        if (!out.seen.await(Patience.secondsOf(60), TimeUnit.SECONDS)) {
            vm.stop();
            throw new AssertionError("guest did not report; console: " + out.text());
        }
    }

    @Test
    void aTestGuestUsesVirtioRngOverMmioAndAgainAfterASnapshotRestore() throws Exception {
        VmConfig config = new VmConfig(kernel(), Optional.empty(), "console=ttyS0", 1, 32L << 20, OnReboot.EXIT, false,
                new DeviceConfig(List.of(), List.of(), true, false), VirtioTransport.MMIO);
        Console first = new Console("rng ok\n");
        LinuxVm vm = vm(config, first);
        Path state = dir.resolve("state");
        Path mem = dir.resolve("mem");
        SnapshotKey key = SnapshotKey.of(new byte[32]);
        vm.start();
        try {
            await(first, vm);
            assertThat(first.text()).contains("rng ok").doesNotContain("rng bad");
            byte[] line = vm.machine().memory().read(Layout.CMDLINE, 200);
            assertThat(new String(line, StandardCharsets.US_ASCII)).startsWith(
                    "console=ttyS0 virtio_mmio.device=4K@0xfc000000:5\0");
            assertThat(vm.machine().memory().read(0x201000, 16)).as("entropy written").isNotEqualTo(new byte[16]);
            // ... and the DSDT describes it too (LNRO0005 at slot 0's window and GSI), for kernels
            // that ignore the parameter.
            byte[] acpi = vm.machine().memory().read(Layout.ACPI_START, (int) (Layout.ACPI_END - Layout.ACPI_START));
            assertThat(indexOf(acpi, Dsdt.build(List.of(VirtioMmioWindow.ofSlot(0))))).as("mmio DSDT in guest RAM")
                    .isNotNegative();

            vm.pause();
            vm.machine().memory().writeInt(GO, 1); // the restored guest goes on at once
            List<DeviceState> devices = vm.captureDeviceStates();
            assertThat(devices).extracting(DeviceState::name).contains("rng0");
            Snapshots.save(vm.machine(), devices, state, mem, key);
        } finally {
            vm.stop();
            vm.awaitExit();
        }
        assertThat(first.text()).as("the source never went on").doesNotContain("again");

        // The snapshot refuses a configuration with its devices on PCI.
        Snapshots.Restored onPci = Snapshots.restore(state, mem, key);
        try {
            assertThatThrownBy(() -> LinuxVm.fromRestored(config.withVirtioTransport(VirtioTransport.PCI),
                    new LinuxVm.Console(new ByteArrayInputStream(new byte[0]), OutputStream.nullOutputStream(), false),
                    onPci.machine(), onPci.devices())).isInstanceOf(SnapshotException.class)
                    .hasMessageContaining("virtio devices are on mmio");
        } finally {
            onPci.machine().close();
        }

        Snapshots.Restored r = Snapshots.restore(state, mem, key);
        Console second = new Console("rng again ok\n");
        LinuxVm restored = LinuxVm.fromRestored(config,
                new LinuxVm.Console(new ByteArrayInputStream(new byte[0]), second, false), r.machine(), r.devices());
        restored.start();
        try {
            await(second, restored);
            assertThat(second.text()).contains("rng again ok").doesNotContain("rng bad");
            assertThat(restored.machine().memory().readShort(0x200102)).as("used.idx").isEqualTo((short) 2);
        } finally {
            restored.stop();
            restored.awaitExit();
        }
    }
}
