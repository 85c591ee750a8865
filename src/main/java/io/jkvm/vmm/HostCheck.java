package io.jkvm.vmm;

import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmDevice;
import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.NativeException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Checks whether this host can run jkvm guests, in the spirit of virt-host-validate, and tells
 * the kinds of host apart ({@link Kind}): no KVM module, a module but no device node (a
 * container or sandbox that did not pass the device through), a node with no driver behind it,
 * no permission, KVM that cannot run stock kernels (PVM-backed), and KVM that can — quickly
 * (hardware-assisted) or slowly (nested under software emulation, as in the lab).
 *
 * <p>The verdict on stock guests comes from {@link LongModeProbe}'s observations (does paged
 * long-mode code at the kernel's addresses run, does it take an interrupt), never from speed
 * alone; speed is reported as a figure.
 */
public final class HostCheck {
    /** Stock 64-bit guests (Linux) run here, directly. */
    public static final int EXIT_OK = 0;
    /** KVM works but stock 64-bit guests cannot run on it (e.g. PVM-backed KVM): use the lab. */
    public static final int EXIT_NO_STANDARD_GUESTS = 3;
    /** KVM is missing or unusable (no module, no device node, no driver, no permission, too old). */
    public static final int EXIT_NO_KVM = 4;

    /** Below this the probe's loop is not running at hardware speed (hardware: 1000+ M instructions/s). */
    static final double SLOW_MIPS = 100;

    /** What kind of host this is, from the guests' point of view. */
    public enum Kind {
        /** Hardware-assisted KVM: stock guests run at native speed. */
        HARDWARE(EXIT_OK),
        /** Stock guests run, but slowly (nested KVM on an emulated CPU, such as the lab machine). */
        SLOW(EXIT_OK),
        /**
         * PVM-backed KVM: only PVM-aware kernels run natively; a stock kernel runs through KVM's
         * instruction emulator, hundreds of times slower than native, so a Linux boot takes far
         * too long to be of use.
         */
        PVM(EXIT_NO_STANDARD_GUESTS),
        /** KVM works, but the probe showed stock 64-bit kernels cannot run on it. */
        NO_STOCK_GUESTS(EXIT_NO_STANDARD_GUESTS),
        /** The kvm modules are loaded but there is no device node at the configured path. */
        NO_DEVICE_NODE(EXIT_NO_KVM),
        /** No kvm module is loaded. */
        NO_MODULE(EXIT_NO_KVM),
        /** A device node exists but no driver answers behind it (ENODEV/ENXIO). */
        NO_DRIVER(EXIT_NO_KVM),
        /** The device exists but this user may not open it. */
        NO_PERMISSION(EXIT_NO_KVM),
        /** KVM answers but cannot be used (not a KVM device, API version, capabilities). */
        UNUSABLE(EXIT_NO_KVM);

        private final int exitCode;

        Kind(int exitCode) {
            this.exitCode = exitCode;
        }

        public int exitCode() {
            return exitCode;
        }

        /** True when stock Linux guests can run directly on this host's KVM. */
        public boolean runsStockGuests() {
            return exitCode == EXIT_OK;
        }
    }

    public enum Status { PASS, WARN, FAIL }

    public record Check(String name, Status status, String detail) {}

    /**
     * The outcome.
     *
     * @param checks  every check made, in order
     * @param kind    the kind of host
     * @param verdict one line: what this host can do and, if it cannot, what to do about it
     */
    public record Report(List<Check> checks, Kind kind, String verdict) {
        public int exitCode() {
            return kind.exitCode();
        }
    }

    /**
     * Where host-check looks: the KVM device setting ({@link KvmDevice}), sysfs (modules, misc
     * devices) and cpuinfo. Tests point these at made-up trees.
     */
    public record Host(Path device, Path sysfs, Path cpuinfo) {
        public static Host current() {
            return new Host(KvmDevice.path(), Path.of("/sys"), Path.of("/proc/cpuinfo"));
        }

        boolean moduleLoaded(String name) {
            return Files.isDirectory(sysfs.resolve("module").resolve(name));
        }

        /** The loaded KVM modules among those jkvm knows, by name. */
        List<String> kvmModules() {
            List<String> out = new ArrayList<>();
            for (String m : List.of("kvm", "kvm_intel", "kvm_amd", "kvm_pvm")) {
                if (moduleLoaded(m)) {
                    out.add(m);
                }
            }
            return out;
        }

        /** The kvm misc device is registered (udev would create the node from this). */
        boolean miscDeviceRegistered() {
            return Files.exists(sysfs.resolve("class/misc/kvm"));
        }

        /** "Intel VT-x (vmx)", "AMD-V (svm)", or null when cpuinfo shows neither. */
        String cpuVirtualization() {
            try {
                for (String line : Files.readAllLines(cpuinfo)) {
                    if (line.startsWith("flags")) {
                        List<String> flags = List.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+"));
                        if (flags.contains("vmx")) {
                            return "Intel VT-x (vmx)";
                        }
                        if (flags.contains("svm")) {
                            return "AMD-V (svm)";
                        }
                        return null;
                    }
                }
            } catch (IOException e) {
                return null;
            }
            return null;
        }
    }

    /** Capabilities jkvm needs. */
    private static final int[] REQUIRED = {
            KvmIoctls.KVM_CAP_USER_MEMORY, KvmIoctls.KVM_CAP_IRQCHIP, KvmIoctls.KVM_CAP_PIT2,
            KvmIoctls.KVM_CAP_SET_TSS_ADDR, KvmIoctls.KVM_CAP_EXT_CPUID, KvmIoctls.KVM_CAP_IOEVENTFD,
            KvmIoctls.KVM_CAP_IRQFD, KvmIoctls.KVM_CAP_IRQ_ROUTING, KvmIoctls.KVM_CAP_SIGNAL_MSI,
            KvmIoctls.KVM_CAP_IMMEDIATE_EXIT, KvmIoctls.KVM_CAP_MP_STATE, KvmIoctls.KVM_CAP_ADJUST_CLOCK,
    };
    private static final String[] REQUIRED_NAMES = {
            "USER_MEMORY", "IRQCHIP", "PIT2", "SET_TSS_ADDR", "EXT_CPUID", "IOEVENTFD", "IRQFD", "IRQ_ROUTING",
            "SIGNAL_MSI", "IMMEDIATE_EXIT", "MP_STATE", "ADJUST_CLOCK",
    };

    /**
     * How long the probe guest's counters may stand still before host-check calls it stuck: a
     * hang detector, not a time budget (a slow or loaded host still moves them, and the probe
     * waits as long as they move).
     */
    private static final Duration PROBE_STALL = Duration.ofSeconds(60);

    private HostCheck() {}

    /** Checks this host, with the configured KVM device. */
    public static Report run() {
        return run(Host.current(), kvm -> LongModeProbe.run(kvm, PROBE_STALL));
    }

    /** Checks {@code host}; {@code probe} runs the guest probe on an open, capable KVM. */
    public static Report run(Host host, Function<Kvm, LongModeProbe.Result> probe) {
        List<Check> checks = new ArrayList<>();
        Path dev = host.device();
        String virt = host.cpuVirtualization();
        List<String> modules = host.kvmModules();
        checks.add(new Check("CPU virtualization", virt == null ? Status.WARN : Status.PASS,
                virt == null ? "no vmx/svm flag in cpuinfo (KVM, if any, is provided another way)" : virt));
        checks.add(new Check("KVM modules", modules.isEmpty() ? Status.FAIL : Status.PASS,
                modules.isEmpty() ? "none loaded" : String.join(", ", modules)));
        if (!Files.exists(dev)) {
            return missingDevice(checks, host, modules, virt);
        }
        if (!isCharDevice(dev)) {
            checks.add(new Check("KVM device", Status.FAIL, dev + " is not a character device"));
            return new Report(checks, Kind.UNUSABLE, dev + " is not a KVM device node (check --kvm-device / "
                    + KvmDevice.ENV + ")");
        }
        checks.add(new Check("KVM device", Status.PASS, dev + " (character device)"));
        Kvm kvm;
        try {
            kvm = Kvm.open(dev.toString());
        } catch (NativeException e) {
            return openFailed(checks, dev, e.errno(), e.getMessage());
        } catch (IllegalStateException e) {
            checks.add(new Check("KVM API version", Status.FAIL, e.getMessage()));
            return new Report(checks, Kind.UNUSABLE, "the KVM at " + dev + " speaks another API version than jkvm");
        }
        try (kvm) {
            checks.add(new Check("KVM device access", Status.PASS, "opened read-write"));
            checks.add(new Check("KVM API version", Status.PASS, String.valueOf(kvm.apiVersion())));
            List<String> missing = new ArrayList<>();
            for (int i = 0; i < REQUIRED.length; i++) {
                if (kvm.checkExtension(REQUIRED[i]) <= 0) {
                    missing.add(REQUIRED_NAMES[i]);
                }
            }
            checks.add(missing.isEmpty()
                    ? new Check("KVM capabilities", Status.PASS, String.join(", ", REQUIRED_NAMES))
                    : new Check("KVM capabilities", Status.FAIL, "missing: " + String.join(", ", missing)));
            if (!missing.isEmpty()) {
                return new Report(checks, Kind.UNUSABLE, "this KVM lacks capabilities jkvm needs: " + String.join(", ", missing));
            }
            checks.add(new Check("vCPUs per VM", Status.PASS,
                    "recommended " + kvm.recommendedVcpus() + ", maximum " + kvm.maxVcpus()));
            boolean pvm = modules.contains("kvm_pvm");
            if (pvm) {
                checks.add(new Check("KVM backend", Status.WARN,
                        "kvm_pvm (pagetable-based virtual machine): only PVM-aware guest kernels run natively"));
            }
            return verdict(checks, probe.apply(kvm), pvm);
        }
    }

    /**
     * The probe decides whether stock guests run at all; the KVM backend (an observed module,
     * not a speed) decides PVM; the probe's speed only decides between fast and slow.
     */
    static Report verdict(List<Check> checks, LongModeProbe.Result probe, boolean pvm) {
        if (!probe.runs()) {
            checks.add(new Check("64-bit guest probe", Status.FAIL, probe.detail()));
            return new Report(checks, Kind.NO_STOCK_GUESTS, "KVM works here, but stock 64-bit guests (Linux) cannot run on it"
                    + (pvm ? " (PVM-backed KVM)" : "") + LAB_ADVICE);
        }
        if (pvm) {
            checks.add(new Check("64-bit guest probe", Status.WARN, probe.detail()));
            return new Report(checks, Kind.PVM, String.format("KVM works here, but it is PVM-backed: a stock 64-bit kernel"
                    + " runs only through KVM's instruction emulator (~%s M instructions/s measured; hardware runs 1000+),"
                    + " so a Linux boot takes tens of minutes", figure(probe.mips())) + LAB_ADVICE);
        }
        if (probe.mips() < SLOW_MIPS) {
            checks.add(new Check("64-bit guest probe", Status.WARN, probe.detail()));
            return new Report(checks, Kind.SLOW, String.format("stock 64-bit guests run here, slowly (~%s M instructions/s;"
                    + " nested or emulated virtualization)", figure(probe.mips())));
        }
        checks.add(new Check("64-bit guest probe", Status.PASS, probe.detail()));
        return new Report(checks, Kind.HARDWARE, "this host runs stock 64-bit guests (hardware-assisted KVM)");
    }

    private static final String LAB_ADVICE = "; use the lab: `jkvm lab run ...` boots them in nested KVM inside an"
            + " emulated AMD-V machine (`jkvm demo` does so by itself)";

    private static String figure(double mips) {
        return mips >= 10 ? String.format("%.0f", mips) : String.format("%.1f", mips);
    }

    private static Report missingDevice(List<Check> checks, Host host, List<String> modules, String virt) {
        Path dev = host.device();
        if (!modules.isEmpty()) {
            boolean registered = host.miscDeviceRegistered();
            checks.add(new Check("KVM device", Status.FAIL, "no " + dev + (registered
                    ? " although the kvm misc device is registered (" + host.sysfs().resolve("class/misc/kvm") + ")"
                    : "; no kvm misc device is registered in sysfs either")));
            String what = registered
                    ? "create the node (`mknod " + dev + " c 10 232`, or let udev) or, in a container, pass it through"
                            + " (`--device /dev/kvm`)"
                    : "this looks like a container or sandbox that does not pass the KVM device through"
                            + " (for a container: `--device /dev/kvm`)";
            return new Report(checks, Kind.NO_DEVICE_NODE, "the kvm modules are loaded (" + String.join(", ", modules)
                    + ") but there is no KVM device at " + dev + ": " + what
                    + "; without it jkvm runs guests only in the lab (`jkvm demo` does so by itself)");
        }
        checks.add(new Check("KVM device", Status.FAIL, "no " + dev));
        String what = virt != null
                ? "load the module for this CPU (" + (virt.contains("vmx") ? "`modprobe kvm_intel`" : "`modprobe kvm_amd`") + ")"
                : "this CPU shows no VT-x/AMD-V: enable it in the firmware, or give this VM nested virtualization";
        return new Report(checks, Kind.NO_MODULE, "KVM is not available: no kvm module is loaded; " + what
                + "; without KVM jkvm runs guests only in the lab (`jkvm demo` does so by itself)");
    }

    /** Classifies a failed open of the device by errno (Linux errno values). */
    static Report openFailed(List<Check> checks, Path dev, int errno, String message) {
        checks.add(new Check("KVM device access", Status.FAIL, message));
        return switch (errno) {
            case 1, 13 -> new Report(checks, Kind.NO_PERMISSION, "this user may not open " + dev
                    + ": run as root, or join the group that owns it (usually `kvm`: `usermod -aG kvm $USER`)");
            case 6, 19 -> new Report(checks, Kind.NO_DRIVER, dev + " exists but no driver answers behind it ("
                    + message + "): load the kvm modules, or in a container pass the host's device through");
            default -> new Report(checks, Kind.UNUSABLE, "cannot open " + dev + ": " + message);
        };
    }

    private static boolean isCharDevice(Path p) {
        try {
            Object mode = Files.getAttribute(p, "unix:mode");
            return mode instanceof Integer m && (m & 0170000) == 0020000;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return false;
        }
    }
}
