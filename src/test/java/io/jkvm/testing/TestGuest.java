package io.jkvm.testing;

import io.jkvm.kvm.Regs;
import io.jkvm.kvm.Sregs;
import io.jkvm.kvm.VcpuFd;
import io.jkvm.memory.GuestMemory;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Small purpose-built test guests: assembled at test time with GNU as/ld (binutils; test tooling,
 * not product) and started in real mode or flat 32-bit protected mode, which this host's PVM
 * /dev/kvm runs directly (see shared/docs/host-kvm.md).
 */
public final class TestGuest {
    private TestGuest() {}

    /**
     * Assembly (GNU as, 32-bit) for {@code print}: writes the NUL-terminated string at
     * {@code %esi} to COM1 (port 0x3f8) and returns; clobbers {@code %al}, {@code %dx} and
     * {@code %esi}. Meant as a {@code %s} argument of String.format, so it is not format-escaped.
     */
    public static final String SERIAL_PRINT = """
            print:
                movb (%esi), %al
                test %al, %al
                jz 99f
                mov $0x3f8, %dx
                out %al, %dx
                inc %esi
                jmp print
            99: ret
            """;

    /** Assembles {@code source} (GNU as syntax) into a flat binary linked to run at {@code origin}. */
    public static byte[] assemble(String source, long origin) {
        Assumptions.assumeTrue(onPath("as") && onPath("ld"), "GNU as/ld (binutils) not installed: cannot build test guests");
        try {
            Path dir = Files.createTempDirectory("jkvm-guest");
            try {
                Path s = dir.resolve("g.S");
                Files.writeString(s, source);
                run(dir, "as", "--32", "-o", "g.o", "g.S");
                run(dir, "ld", "-m", "elf_i386", "-Ttext=0x" + Long.toHexString(origin), "--oformat", "binary",
                        "-o", "g.bin", "g.o");
                return Files.readAllBytes(dir.resolve("g.bin"));
            } finally {
                try (var w = Files.walk(dir)) {
                    w.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void run(Path dir, String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", cmd) + " failed:\n" + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    /** Loads code and points the vCPU at it in real mode (CS = 0, flat 64 KiB segments). */
    public static void startRealMode(VcpuFd vcpu, GuestMemory mem, byte[] code, long origin) {
        mem.write(origin, code);
        Sregs s = vcpu.getSregs();
        Sregs.Seg cs = s.cs();
        Sregs.Seg real = new Sregs.Seg(0, 0xffff, 0, cs.type(), true, 0, false, true, false, false, false, false);
        s.cs(real);
        s.dataSegments(new Sregs.Seg(0, 0xffff, 0, 3, true, 0, false, true, false, false, false, false));
        vcpu.setSregs(s);
        Regs r = new Regs();
        r.rip(origin);
        r.rflags(2);
        r.rsp(0x7000);
        vcpu.setRegs(r);
    }

    /** Loads code and enters flat 32-bit protected mode without paging at {@code origin}. */
    public static void startProtectedMode(VcpuFd vcpu, GuestMemory mem, byte[] code, long origin) {
        mem.write(origin, code);
        // A GDT is not needed by KVM to run, but the guest reloading a segment would need one:
        // null, code (0x08), data (0x10) at 0x500.
        mem.writeLong(0x500, 0);
        mem.writeLong(0x508, 0x00cf9b000000ffffL);
        mem.writeLong(0x510, 0x00cf93000000ffffL);
        Sregs s = vcpu.getSregs();
        s.cs(new Sregs.Seg(0, 0xffffffff, 0x08, 0xb, true, 0, true, true, false, true, false, false));
        s.dataSegments(new Sregs.Seg(0, 0xffffffff, 0x10, 0x3, true, 0, true, true, false, true, false, false));
        s.gdt(0x500, 0x17);
        s.cr0(s.cr0() | 1);
        vcpu.setSregs(s);
        Regs r = new Regs();
        r.rip(origin);
        r.rflags(2);
        r.rsp(0x7000);
        vcpu.setRegs(r);
    }

    /** The list form of a command, for readable test code. */
    public static List<String> cmd(String... parts) {
        return List.of(parts);
    }
}
