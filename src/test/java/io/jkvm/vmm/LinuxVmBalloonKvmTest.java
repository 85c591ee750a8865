package io.jkvm.vmm;

import io.jkvm.arch.x86.VirtioMmioSlots;
import io.jkvm.arch.x86.boot.ElfBuilder;
import io.jkvm.config.BalloonConfig;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VirtioTransport;
import io.jkvm.config.VmConfig;
import io.jkvm.device.virtio.VirtioBalloon;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct-KVM: a {@link LinuxVm} with a balloon (virtio-mmio slot 0). The PVH test kernel checks
 * the device ID (5) and the target in config space (num_pages, virtio 1.2 §5.5.4), fills 2 MiB of
 * its RAM with a pattern, inflates the first MiB (256 page numbers in one buffer), writes
 * {@code actual}, and checks that the released MiB reads as zeros (shared guest RAM, MADV_REMOVE)
 * while the second still holds the pattern. Then the host changes the target, which the
 * configuration keeps, and the device's state is captured under "balloon0".
 */
@Tag("kvm")
class LinuxVmBalloonKvmTest {
    private static final long LOAD = 0x100_0000;

    @TempDir Path dir;

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    private Path kernel() throws Exception {
        String src = String.format("""
                .code32
                    mov $0x%x, %%ebx
                    cmpl $0x74726976, 0x00(%%ebx)  # MagicValue "virt"
                    jne fail
                    cmpl $5, 0x08(%%ebx)           # DeviceID: memory balloon
                    jne fail
                    cmpl $1024, 0x100(%%ebx)       # num_pages: the 4 MiB target
                    jne fail
                    mov $0x400000, %%edi           # 2 MiB of pattern at 4 MiB
                    mov $0x5a5a5a5a, %%eax
                    mov $0x80000, %%ecx
                    cld
                    rep stosl
                    movl $0, 0x70(%%ebx)
                    movl $1, 0x70(%%ebx)           # ACKNOWLEDGE
                    movl $3, 0x70(%%ebx)           # DRIVER
                    movl $1, 0x24(%%ebx)           # DriverFeaturesSel = 1
                    movl $1, 0x20(%%ebx)           # VERSION_1
                    movl $0xb, 0x70(%%ebx)         # FEATURES_OK
                    testb $8, 0x70(%%ebx)
                    jz fail
                    movl $0, 0x30(%%ebx)           # QueueSel 0: inflateq
                    movl $8, 0x38(%%ebx)
                    movl $0x200000, 0x80(%%ebx)
                    movl $0, 0x84(%%ebx)
                    movl $0x200080, 0x90(%%ebx)
                    movl $0, 0x94(%%ebx)
                    movl $0x200100, 0xa0(%%ebx)
                    movl $0, 0xa4(%%ebx)
                    movl $1, 0x44(%%ebx)           # QueueReady
                    movl $0xf, 0x70(%%ebx)         # DRIVER_OK
                    mov $0x201000, %%edi           # PFNs 0x400..0x4ff: the first MiB of the pattern
                    mov $0x400, %%eax
                5:  mov %%eax, (%%edi)
                    add $4, %%edi
                    inc %%eax
                    cmp $0x500, %%eax
                    jne 5b
                    movl $0x201000, 0x200000       # desc[0]: 1 KiB, device-readable
                    movl $0, 0x200004
                    movl $1024, 0x200008
                    movl $0, 0x20000c
                    movw $0, 0x200084
                    movw $1, 0x200082
                    movl $0, 0x50(%%ebx)           # QueueNotify
                2:  cmpw $1, 0x200102              # used.idx
                    jne 2b
                3:  mov 0x60(%%ebx), %%eax
                    test $1, %%eax
                    jz 3b
                    mov %%eax, 0x64(%%ebx)         # InterruptACK
                    movl $256, 0x104(%%ebx)        # actual
                    cmpl $0, 0x400000
                    jne fail
                    cmpl $0, 0x4ffffc
                    jne fail
                    cmpl $0x5a5a5a5a, 0x500000
                    jne fail
                    mov $ok, %%esi
                    call print
                    cli
                1:  hlt
                    jmp 1b
                fail:
                    mov $bad, %%esi
                    call print
                    cli
                4:  hlt
                    jmp 4b
                %s
                ok: .asciz "balloon ok\\n"
                bad: .asciz "balloon bad\\n"
                """, VirtioMmioSlots.base(0), TestGuest.SERIAL_PRINT);
        byte[] code = TestGuest.assemble(src, LOAD);
        ElfBuilder elf = new ElfBuilder().load(LOAD, code, 0x1000);
        elf.pvhEntry = LOAD;
        return Files.write(dir.resolve("balloon-vmlinux"), elf.build());
    }

    @Test
    void theGuestInflatesAMibWhichReadsBackAsZerosAndTheHostMovesTheTarget() throws Exception {
        VmConfig config = new VmConfig(kernel(), Optional.empty(), "console=ttyS0", 1, 32L << 20, OnReboot.EXIT, false,
                new DeviceConfig(List.of(), List.of(), false, false, null, new BalloonConfig(4, false, 0)),
                VirtioTransport.MMIO);
        LinuxVmVirtioMmioKvmTest.Console out = new LinuxVmVirtioMmioKvmTest.Console("balloon ok\n");
        LinuxVm vm = new LinuxVm(config, new LinuxVm.Console(new ByteArrayInputStream(new byte[0]), out, false));
        vm.start();
        try {
            if (!out.seen.await(io.jkvm.testing.Patience.secondsOf(60), java.util.concurrent.TimeUnit.SECONDS)) {
                throw new AssertionError("guest did not report; console: " + out.text());
            }
            assertThat(out.text()).doesNotContain("balloon bad");
            VirtioBalloon b = vm.balloon();
            assertThat(b.counters()[0]).as("pages released").isEqualTo(256);
            assertThat(b.actualPages()).isEqualTo(256);
            vm.updateBalloon(8, 0);
            assertThat(b.targetPages()).isEqualTo(8 * 256);
            assertThat(vm.config().devices().balloon()).isEqualTo(new BalloonConfig(8, false, 0));
            vm.pause();
            assertThat(vm.captureDeviceStates()).extracting(DeviceState::name).contains("balloon0");
        } finally {
            vm.stop();
            vm.awaitExit();
        }
    }
}
