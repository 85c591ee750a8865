package io.jkvm.isolation;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The tighter seccomp filter each vCPU thread installs on itself, on top of the process-wide
 * {@link SeccompFilter} (filters stack; the kernel applies the strictest answer, seccomp_filter.rst
 * "Return values"). A vCPU thread is the one a malicious guest reaches first: it runs KVM_RUN and
 * the register handlers of the devices it exits to. What it does there, and the JVM with it, is
 * narrow, so this filter takes away two more things:
 *
 * <ul>
 *   <li><b>ioctl by request type.</b> Only KVM's (KVMIO, 0xAE: KVM_RUN, the register and state
 *       calls, and the VM calls a register write may make: KVM_IRQ_LINE, KVM_SIGNAL_MSI,
 *       KVM_SET_GSI_ROUTING, KVM_IRQFD, KVM_IOEVENTFD, KVM_SET_USER_MEMORY_REGION) and 'T' (0x54:
 *       TUNSETOFFLOAD when virtio-net is activated, and the terminal calls such as FIONREAD the
 *       JVM makes on standard streams). The type is bits 8-15 of the request
 *       (Documentation/userspace-api/ioctl/ioctl-number.rst); the kernel takes the request as an
 *       unsigned int, so the low 32 bits are all there is to check. Everything else (block,
 *       file-system, userfaultfd, socket configuration calls on any descriptor the process holds)
 *       is denied.</li>
 *   <li><b>Sockets.</b> Endpoints are made and accepted by the API, migration and device I/O
 *       threads (vsock connects on its I/O thread); a vCPU thread never creates, binds, connects
 *       or accepts one.</li>
 * </ul>
 *
 * <p>Where the list comes from: the ioctls the product issues (grep of the request constants:
 * KVM, TUN, userfaultfd; userfaultfd's are made by the lazy-restore thread only), the device
 * code that runs on a vCPU thread ({@code VirtioDevice.activate}/{@code reset} and register
 * handlers; queue work runs on I/O threads), strace of a confined JVM (which found the libnet
 * probe {@link #arm} forestalls), and the lab tier, whose VMMs boot Debian's kernel with
 * virtio-blk, -net, -rng, -console, vsock, PCI and MMIO transports with this filter on (a call
 * outside it kills the VMM and fails the test). The process-wide filter still applies under this one.
 *
 * <p>It must be installed after the process-wide filter: that one is installed with TSYNC,
 * which the kernel refuses once a thread has a filter of its own that the caller lacks.
 *
 * <p>A thread started by a vCPU thread inherits this filter (clone copies it). The VMM starts
 * none there: device I/O threads, the vsock and console threads start when their device is
 * built, before the vCPUs, and a reboot, restore or migration builds the next machine on the
 * thread that runs the VM, not on a vCPU thread. The virtual threads of the VMM (a cancelled
 * migration's closer, its watchdog, the self-announcement after a migration) make neither
 * sockets nor ioctls, so a carrier thread the JDK happens to start from a vCPU thread when one
 * of them wakes loses nothing they need.
 */
public final class VcpuSeccompFilter {
    private VcpuSeccompFilter() {}

    /** seccomp_data.args[1] low word (little-endian): ioctl's request. */
    static final int DATA_ARG1_LOW = 24;
    static final int NR_IOCTL = 16;

    /** The ioctl types (bits 8-15 of the request) a vCPU thread may use, with whose they are. */
    public static final Map<Integer, String> IOCTL_TYPES = Map.of(
            0xAE, "KVM (KVMIO)",
            0x54, "TUN and terminals ('T')");

    /** Calls denied on vCPU threads only (x86-64 numbers, asm/unistd_64.h). */
    public static final Map<Integer, String> DENIED = denied();

    private static Map<Integer, String> denied() {
        Map<Integer, String> m = new TreeMap<>();
        m.put(41, "socket");
        m.put(53, "socketpair");
        m.put(42, "connect");
        m.put(49, "bind");
        m.put(50, "listen");
        m.put(43, "accept");
        m.put(288, "accept4");
        return Collections.unmodifiableMap(m);
    }

    /** The mode vCPU threads started from now on install the filter in (OFF: none). */
    private static volatile SeccompMode armed = SeccompMode.OFF;

    /** The filter program for {@code mode} (ON or LOG). */
    public static List<Bpf.Insn> program(SeccompMode mode) {
        int deny = SeccompFilter.denyAction(mode);
        Bpf b = SeccompFilter.x86_64Call();
        b.jeq(NR_IOCTL, "ioctl", null);
        for (int nr : DENIED.keySet()) {
            b.jeq(nr, "deny", null);
        }
        b.ret(SeccompFilter.RET_ALLOW);
        b.label("ioctl").loadWord(DATA_ARG1_LOW).rsh(8).and(0xff);
        for (int type : new java.util.TreeSet<>(IOCTL_TYPES.keySet())) {
            b.jeq(type, "allow_ioctl", null);
        }
        b.label("deny").ret(deny);
        b.label("allow_ioctl").ret(SeccompFilter.RET_ALLOW);
        return b.build();
    }

    /**
     * From now on, every vCPU thread that starts installs the filter in {@code mode} on itself
     * ({@link #onVcpuThread}). {@link Confinement#apply} calls this after the process-wide filter.
     */
    static void arm(SeccompMode mode) {
        if (mode != SeccompMode.OFF) {
            loadNioNatives();
        }
        armed = mode;
    }

    /**
     * The first NIO channel in a JVM loads libnet, whose JNI_OnLoad probes for IPv4 and IPv6 by
     * opening sockets (measured with strace: socket(AF_INET), socket(AF_INET6) twice, on the
     * thread that opened the channel). The VMM opens its files long before its vCPUs start, so
     * that has happened; this makes sure it never happens first on a vCPU thread.
     */
    private static void loadNioNatives() {
        try (var ch = java.nio.channels.FileChannel.open(java.nio.file.Path.of("/proc/self/stat"))) {
            ch.size();
        } catch (java.io.IOException | RuntimeException e) {
            // Only a warm-up: without /proc the VMM has opened other files already.
        }
        // The socket channel classes' own start-up asks the same of libnio (Net's IPv6 probe):
        // done here too, in case the first socket write of the process came from a vCPU thread.
        try (var ch = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            ch.isOpen();
        } catch (java.io.IOException | RuntimeException e) {
            // As above.
        }
    }

    /**
     * Called by each vCPU thread before its first KVM_RUN: installs the filter on this thread
     * if the process was confined. Returns null, or one line saying why it could not.
     */
    public static String onVcpuThread() {
        SeccompMode mode = armed;
        if (mode == SeccompMode.OFF) {
            return null;
        }
        try {
            install(mode);
            return null;
        } catch (RuntimeException e) {
            return "vCPU thread seccomp filter: " + e.getMessage();
        }
    }

    /** Installs the filter on the calling thread only (no TSYNC). */
    static void install(SeccompMode mode) {
        // no_new_privs is per thread; the process's was set before the process-wide filter, and
        // TSYNC gave it to every thread, so this is only belt and braces for an unprivileged caller.
        Syscall.noNewPrivs();
        SeccompFilter.load(program(mode), 0).orThrow("seccomp(SET_MODE_FILTER) on a vCPU thread");
    }
}
