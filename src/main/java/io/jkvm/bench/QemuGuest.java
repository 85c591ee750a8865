package io.jkvm.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * QEMU running a {@link BenchGuest} image as its BIOS, on KVM, with as little machine as -M pc
 * allows (-nodefaults, no network, no display) plus isa-debug-exit on the done port.
 */
final class QemuGuest {
    private QemuGuest() {}

    static String unavailable() {
        return Tools.onPath(Tools.QEMU) ? null : "QEMU not installed (Debian package qemu-system-x86)";
    }

    /** Why a bench guest cannot run side by side under jkvm and QEMU on this host, or null. */
    static String sideBySideUnavailable() {
        String why = BenchGuest.unavailableOnKvm();
        return why != null ? why : unavailable();
    }

    /** The command line; {@code debugcon} adds the 0xe9 debug console on stdout. */
    static List<String> command(Path image, long ramBytes, boolean debugcon) {
        List<String> cmd = new ArrayList<>(List.of(Tools.QEMU, "-accel", "kvm", "-M", "pc", "-smp", "1",
                "-m", (ramBytes >> 20) + "M", "-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
                "-no-reboot", "-bios", image.toString(),
                "-device", "isa-debug-exit,iobase=0x" + Integer.toHexString(BenchGuest.DONE_PORT) + ",iosize=1"));
        if (debugcon) {
            cmd.addAll(List.of("-chardev", "stdio,id=dbg", "-device",
                    "isa-debugcon,iobase=0x" + Integer.toHexString(BenchGuest.DEBUGCON_PORT) + ",chardev=dbg"));
        }
        return cmd;
    }

    /**
     * Starts QEMU on a {@link BenchGuest.Kind#SPIN} image with an HMP monitor on {@code monitor}
     * (plus {@code extra} arguments) and returns once the guest has touched its RAM; its console
     * is drained from then on.
     */
    static Process startTouched(Path image, long ramBytes, Path monitor) throws IOException, InterruptedException {
        return startTouched(image, ramBytes, monitor, List.of());
    }

    /** As above, with {@code extra} arguments (a drive, say). */
    static Process startTouched(Path image, long ramBytes, Path monitor, List<String> extra)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(command(image, ramBytes, true));
        cmd.addAll(List.of("-monitor", "unix:" + monitor + ",server=on,wait=off"));
        cmd.addAll(extra);
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        try {
            Tools.awaitByte(p.getInputStream(), 'R', p, "QEMU");
        } catch (IOException | InterruptedException | RuntimeException e) {
            p.destroyForcibly();
            throw e;
        }
        Tools.drain(p.getInputStream());
        return p;
    }

    /** Runs the image to the done port; returns the wall time of the whole QEMU process in ns. */
    static long runTimed(Path image, long ramBytes) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command(image, ramBytes, false))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        long t0 = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(600, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("QEMU did not finish the guest within 600 s");
        }
        long t = System.nanoTime() - t0;
        // isa-debug-exit: status (value << 1) | 1; the guest writes 0.
        if (p.exitValue() != 1) {
            throw new IOException("QEMU exited with status " + p.exitValue() + " instead of 1 (guest done)");
        }
        return t;
    }
}
