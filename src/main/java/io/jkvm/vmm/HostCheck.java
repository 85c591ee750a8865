package io.jkvm.vmm;

import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.NativeException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks whether this host can run jkvm guests, in the spirit of virt-host-validate: the
 * device, its permissions, the API version, the capabilities jkvm relies on, and a probe that
 * runs a tiny long-mode guest where Linux kernels live.
 */
public final class HostCheck {
    /** Everything is usable: standard 64-bit guests run here. */
    public static final int EXIT_OK = 0;
    /** KVM works but standard 64-bit guests cannot run (e.g. PVM-backed KVM): use the lab. */
    public static final int EXIT_NO_STANDARD_GUESTS = 3;
    /** KVM is missing or unusable. */
    public static final int EXIT_NO_KVM = 4;

    public enum Status { PASS, WARN, FAIL }

    public record Check(String name, Status status, String detail) {}

    public record Report(List<Check> checks, int exitCode, String verdict) {}

    /** Capabilities jkvm needs, with why. */
    private static final int[][] REQUIRED = {
            {KvmIoctls.KVM_CAP_USER_MEMORY}, {KvmIoctls.KVM_CAP_IRQCHIP}, {KvmIoctls.KVM_CAP_PIT2},
            {KvmIoctls.KVM_CAP_SET_TSS_ADDR}, {KvmIoctls.KVM_CAP_EXT_CPUID}, {KvmIoctls.KVM_CAP_IOEVENTFD},
            {KvmIoctls.KVM_CAP_IRQFD}, {KvmIoctls.KVM_CAP_IRQ_ROUTING}, {KvmIoctls.KVM_CAP_SIGNAL_MSI},
            {KvmIoctls.KVM_CAP_IMMEDIATE_EXIT}, {KvmIoctls.KVM_CAP_MP_STATE}, {KvmIoctls.KVM_CAP_ADJUST_CLOCK},
    };
    private static final String[] REQUIRED_NAMES = {
            "USER_MEMORY", "IRQCHIP", "PIT2", "SET_TSS_ADDR", "EXT_CPUID", "IOEVENTFD", "IRQFD", "IRQ_ROUTING",
            "SIGNAL_MSI", "IMMEDIATE_EXIT", "MP_STATE", "ADJUST_CLOCK",
    };

    private HostCheck() {}

    public static Report run() {
        List<Check> checks = new ArrayList<>();
        Path dev = Path.of(Kvm.DEVICE);
        if (!Files.exists(dev)) {
            checks.add(new Check("/dev/kvm present", Status.FAIL,
                    "missing: load kvm_intel or kvm_amd, and enable VT-x/AMD-V in the firmware"));
            return new Report(checks, EXIT_NO_KVM, "KVM is not available on this host");
        }
        checks.add(new Check("/dev/kvm present", Status.PASS, "character device " + dev));
        Kvm kvm;
        try {
            kvm = Kvm.open();
        } catch (NativeException e) {
            checks.add(new Check("/dev/kvm accessible", Status.FAIL,
                    e.getMessage() + " (run as root or join the group owning /dev/kvm)"));
            return new Report(checks, EXIT_NO_KVM, "KVM is not usable by this user");
        } catch (IllegalStateException e) {
            checks.add(new Check("KVM API version", Status.FAIL, e.getMessage()));
            return new Report(checks, EXIT_NO_KVM, "KVM API version mismatch");
        }
        try (kvm) {
            checks.add(new Check("/dev/kvm accessible", Status.PASS, "opened read-write"));
            checks.add(new Check("KVM API version", Status.PASS, String.valueOf(kvm.apiVersion())));
            List<String> missing = new ArrayList<>();
            for (int i = 0; i < REQUIRED.length; i++) {
                if (kvm.checkExtension(REQUIRED[i][0]) <= 0) {
                    missing.add(REQUIRED_NAMES[i]);
                }
            }
            checks.add(missing.isEmpty()
                    ? new Check("KVM capabilities", Status.PASS, String.join(", ", REQUIRED_NAMES))
                    : new Check("KVM capabilities", Status.FAIL, "missing: " + String.join(", ", missing)));
            checks.add(new Check("vCPUs per VM", Status.PASS,
                    "recommended " + kvm.recommendedVcpus() + ", maximum " + kvm.maxVcpus()));
            String virt = cpuVirtualization();
            checks.add(new Check("CPU virtualization", virt == null ? Status.WARN : Status.PASS,
                    virt == null ? "no vmx/svm flag in /proc/cpuinfo (KVM is provided another way)" : virt));
            boolean pvm = Files.exists(Path.of("/sys/module/kvm_pvm"));
            if (pvm) {
                checks.add(new Check("KVM backend", Status.WARN,
                        "kvm_pvm (pagetable-based virtual machine): only PVM-aware guests run natively"));
            }
            if (!missing.isEmpty()) {
                return new Report(checks, EXIT_NO_KVM, "KVM lacks capabilities jkvm needs");
            }
            LongModeProbe.Result probe = LongModeProbe.run(kvm, Duration.ofSeconds(3));
            checks.add(new Check("64-bit guest probe", probe.runs() ? Status.PASS : Status.FAIL, probe.detail()));
            if (!probe.runs()) {
                return new Report(checks, EXIT_NO_STANDARD_GUESTS,
                        "KVM works here, but stock 64-bit guests (Linux) cannot run on it"
                                + (pvm ? " (PVM-backed KVM)" : "")
                                + ". Use the lab: `jkvm lab run ...` boots them in nested KVM inside an emulated AMD-V machine.");
            }
            return new Report(checks, EXIT_OK, "this host can run jkvm guests");
        }
    }

    private static String cpuVirtualization() {
        try {
            String info = Files.readString(Path.of("/proc/cpuinfo"));
            for (String line : info.split("\n")) {
                if (line.startsWith("flags")) {
                    if (line.contains(" vmx")) {
                        return "Intel VT-x (vmx)";
                    }
                    if (line.contains(" svm")) {
                        return "AMD-V (svm)";
                    }
                    return null;
                }
            }
        } catch (java.io.IOException e) {
            return null;
        }
        return null;
    }
}
