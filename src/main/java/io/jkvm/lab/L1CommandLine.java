package io.jkvm.lab;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The qemu-system-x86_64 command line of the lab machine (L1): software-emulated EPYC with SVM
 * (so L1's KVM is ordinary nested AMD-V), no network, the host's files over virtio-9p, the serial
 * console on stdio without QEMU's escape character (binary input must pass unchanged), and in
 * pipe mode three virtio-serial ports connected to unix sockets the host side listens on.
 */
final class L1CommandLine {
    static final String QEMU = "qemu-system-x86_64";
    /** QEMU's debug log in the job directory (CPU resets, guest errors). */
    static final String QEMU_LOG = "qemu-debug.log";

    /** Experiment knobs for the lab machine (defaults are what reliability measurements chose). */
    static final String ENV_ACCEL = "JKVM_LAB_ACCEL";
    static final String ENV_CPU = "JKVM_LAB_CPU";
    static final String ENV_APPEND = "JKVM_LAB_APPEND";

    private L1CommandLine() {}

    /** QEMU's -accel for L1: TCG ({@value #ENV_ACCEL} may say e.g. {@code tcg,thread=single}). */
    static String accel() {
        return setting(ENV_ACCEL, "tcg");
    }

    /** L1's CPU model: an EPYC with SVM, so L1's KVM is AMD-V with nested paging. */
    static String cpuModel() {
        return setting(ENV_CPU, "EPYC,+svm");
    }

    /**
     * Module parameters L1's KVM gets by default (lab-init passes {@code module.param=value} words
     * to insmod). {@code kvm_amd.npt=0}: L1's KVM gives its guests shadow page tables instead of
     * nested paging, so QEMU's software SVM never walks a nested page table. With nested paging
     * the lab machine's own kernel panicked with corrupted kernel stacks ("corrupted stack end
     * detected inside scheduler" in a VMM's vCPU thread after KVM_RUN, "stack-protector: Kernel
     * stack is corrupted in: path_openat" in an unrelated process) in about one lab test in four;
     * turning AVX and XSAVE off in the emulated CPU did not change that, and single-threaded TCG
     * stalled the first boot. Measurements in the README ("The lab"). {@value #ENV_APPEND} words
     * come after these, so {@code kvm_amd.npt=1} there turns nested paging back on.
     */
    static final String L1_KVM_PARAMS = "kvm_amd.npt=0";

    /** Extra L1 kernel arguments ({@value #ENV_APPEND}), with a leading space, or empty. */
    static String extraKernelArgs() {
        String a = setting(ENV_APPEND, "");
        return a.isEmpty() ? "" : " " + a;
    }

    private static String setting(String env, String dflt) {
        String v = System.getenv(env);
        if (v == null || v.isBlank()) {
            return dflt;
        }
        if (!v.matches("[A-Za-z0-9_.,=+: -]{1,200}")) {
            throw new IllegalArgumentException(env + ": unexpected characters in '" + v + "'");
        }
        return v.strip();
    }

    static List<String> build(Path kernel, Path initrd, LabOptions opts, LabJob job, List<LabJob.Share> shares) {
        List<String> c = new ArrayList<>(List.of(QEMU,
                "-nodefaults", "-no-user-config",
                "-accel", accel(), "-cpu", cpuModel(),
                "-m", Integer.toString(opts.memoryMib()), "-smp", Integer.toString(opts.cpus()),
                "-nic", "none", "-display", "none", "-vga", "none", "-monitor", "none",
                "-no-reboot",
                // When L1 dies (a triple fault resets it, and -no-reboot ends QEMU), the CPU state at
                // the reset is the evidence: QEMU logs it here, and the lab reports its tail.
                "-d", "cpu_reset,guest_errors", "-D", job.dir().resolve(QEMU_LOG).toString(),
                "-chardev", "stdio,id=con,signal=off,mux=off", "-serial", "chardev:con",
                "-kernel", kernel.toString(), "-initrd", initrd.toString(),
                // tty mode: quiet + loglevel=0, no kernel messages in the command's output. Pipe
                // mode: the console is only the diagnostic log, so warnings and worse (oops,
                // panic, OOM kills) go there: loglevel=5 prints levels 0-4, and 4 is also the level
                // of the register dump and stack trace under a soft-lockup or hung-task report, which
                // say where a wedged lab machine's CPUs are. panic=-1 with -no-reboot: a crashed
                // /init or kernel ends QEMU instead of hanging until the timeout.
                "-append", "console=ttyS0 quiet " + (opts.tty() ? "loglevel=0" : "loglevel=5")
                        + " panic=-1 mitigations=off " + L1_KVM_PARAMS
                        + extraKernelArgs()
                        + " jkvm.lab=" + job.dir(),
                "-virtfs", "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap",
                "-virtfs", "local,path=/tmp,mount_tag=tmp,security_model=none,multidevs=remap"));
        for (LabJob.Share s : shares) {
            c.addAll(List.of("-virtfs", "local,path=" + s.path() + ",mount_tag=" + s.tag()
                    + ",security_model=none,multidevs=remap"));
        }
        if (!opts.tty()) {
            c.addAll(List.of("-device", "virtio-serial-pci,id=vser0"));
            for (String p : List.of("stdin", "stdout", "stderr")) {
                c.addAll(List.of(
                        "-chardev", "socket,id=" + p + ",path=" + job.socket(p),
                        "-device", "virtserialport,bus=vser0.0,chardev=" + p + ",name=jkvm." + p));
            }
        }
        return c;
    }
}
