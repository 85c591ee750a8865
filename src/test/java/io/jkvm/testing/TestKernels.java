package io.jkvm.testing;

import io.jkvm.arch.x86.boot.ElfBuilder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Tiny "kernels" for the API and daemon tests: ELF vmlinux files with a PVH entry, so jkvm
 * loads them like Linux but starts them in flat 32-bit protected mode, which this host's PVM
 * /dev/kvm runs directly. Each prints {@link #UP} on COM1 first.
 */
public final class TestKernels {
    public static final String UP = "jkvm-test-guest: up";
    public static final String CTRL_ALT_DEL = "jkvm-test-guest: ctrl-alt-del";
    private static final long LOAD = 0x100_0000;

    private TestKernels() {}

    private static final String PRINT = """
                .code32
                    mov $up, %esi
                    call print
                    jmp main
                print:
                    movb (%esi), %al
                    test %al, %al
                    jz 1f
                    mov $0x3f8, %dx
                    out %al, %dx
                    inc %esi
                    jmp print
                1:  ret
                up: .asciz "jkvm-test-guest: up\\n"
                """;

    /** Prints, then halts with interrupts off: costs no host CPU while it "runs". */
    public static Path halting(Path dir) throws IOException {
        return write(dir.resolve("halting-vmlinux"), PRINT + """
                main:
                    cli
                2:  hlt
                    jmp 2b
                """);
    }

    /** Prints, then pulses the i8042 reset line at once: a guest that reboots (and so ends the VMM). */
    public static Path rebootsAtOnce(Path dir) throws IOException {
        return write(dir.resolve("reboot-vmlinux"), PRINT + """
                main:
                    mov $0xfe, %al
                    mov $0x64, %dx
                    out %al, %dx
                4:  hlt
                    jmp 4b
                """);
    }

    /**
     * A Firecracker configuration file ({@code jkvm run --config-file}) that boots {@link
     * #rebootsAtOnce} with one vCPU and 32 MiB, its console on the serial port, and {@code
     * drives}: a JSON array (Firecracker's "drives" section).
     */
    public static Path rebootsAtOnceConfig(Path dir, String name, String drives) throws IOException {
        return Files.writeString(dir.resolve(name), """
                {
                  "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0 reboot=k panic=1"},
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32, "smt": false},
                  "drives": %s,
                  "network-interfaces": []
                }
                """.formatted(rebootsAtOnce(dir), drives));
    }

    /**
     * Prints, then polls the i8042 for keyboard data; on Del (set 1 make code 0x53, as in
     * Ctrl+Alt+Del) prints {@link #CTRL_ALT_DEL} and pulses the reset line (command 0xFE), as
     * Linux's ctrl_alt_del → reboot=k would. Busy-polls: use for one VM at a time.
     */
    public static Path rebootsOnCtrlAltDel(Path dir) throws IOException {
        return write(dir.resolve("cad-vmlinux"), PRINT + """
                main:
                    mov $0x64, %dx
                    in %dx, %al
                    test $1, %al
                    jz main
                    mov $0x60, %dx
                    in %dx, %al
                    cmp $0x53, %al
                    jne main
                    mov $cad, %esi
                    call print
                    mov $0xfe, %al
                    mov $0x64, %dx
                    out %al, %dx
                3:  hlt
                    jmp 3b
                cad: .asciz "jkvm-test-guest: ctrl-alt-del\\n"
                """);
    }

    /**
     * Prints, then answers what arrives on COM1: each letter back in capitals, a carriage return
     * as CR LF (a terminal's command and its output, for the web console's test). Busy-polls the
     * line status register: use for one VM at a time.
     */
    public static Path echoingInCapitals(Path dir) throws IOException {
        return write(dir.resolve("echo-vmlinux"), PRINT + """
                main:
                    mov $0x3fd, %dx
                    in %dx, %al
                    test $1, %al
                    jz main
                    mov $0x3f8, %dx
                    in %dx, %al
                    cmp $0x0d, %al
                    jne 5f
                    out %al, %dx
                    mov $0x0a, %al
                    jmp 6f
                5:  cmp $0x61, %al
                    jb 6f
                    cmp $0x7a, %al
                    ja 6f
                    sub $0x20, %al
                6:  out %al, %dx
                    jmp main
                """);
    }

    private static Path write(Path file, String source) throws IOException {
        byte[] code = TestGuest.assemble(source, LOAD);
        ElfBuilder elf = new ElfBuilder().load(LOAD, code, 0x1000);
        elf.pvhEntry = LOAD;
        return Files.write(file, elf.build());
    }
}
