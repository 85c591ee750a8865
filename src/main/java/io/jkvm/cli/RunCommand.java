package io.jkvm.cli;

import io.jkvm.arch.x86.boot.BootException;
import io.jkvm.config.ConfigException;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.VsockConfig;
import io.jkvm.net.NetConfig;
import io.jkvm.storage.DiskConfig;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.config.VmConfigValidator;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.NativeException;
import io.jkvm.vmm.LinuxVm;
import io.jkvm.vmm.diag.ReportSignal;
import io.jkvm.vmm.diag.ReportText;
import io.jkvm.vmm.MachineExit;
import io.jkvm.vmm.RawTerminal;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code jkvm run}: boots a Linux kernel in a new VM with the serial console on this terminal. */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Boot a Linux kernel (bzImage or ELF vmlinux) in a new VM.",
                "The serial console (ttyS0) is this terminal; press Ctrl-A x to quit.",
                "With --api-sock the VMM waits for its configuration over a Firecracker-compatible HTTP API",
                "on that Unix socket; --config-file boots from Firecracker's JSON configuration document.",
                "Exit status: 0 guest powered off (or rebooted with --on-reboot exit), 1 guest or VMM error,",
                "2 bad configuration, 3 triple fault."})
public final class RunCommand implements Callable<Integer> {
    @Option(names = "--kernel", paramLabel = "PATH", description = "Kernel image: bzImage or ELF vmlinux (PVH).")
    Path kernel;

    @Option(names = "--api-sock", paramLabel = "PATH",
            description = "Serve the Firecracker-compatible API on this Unix socket (created 0600) and boot on InstanceStart.")
    Path apiSock;

    @Option(names = "--config-file", paramLabel = "FILE",
            description = "Boot from a Firecracker JSON configuration (boot-source, machine-config, drives, ...).")
    Path configFile;

    @Option(names = "--no-api", description = "With --config-file: serve no API (the default unless --api-sock is given).")
    boolean noApi;

    @Option(names = "--mmds-size-limit", paramLabel = "BYTES",
            description = "With --api-sock or --config-file: most bytes the MMDS document may take (default: the API's"
                    + " body limit, 65536).")
    Long mmdsSizeLimit;

    @Option(names = "--console-sock", paramLabel = "PATH",
            description = "Also offer the serial console on this Unix socket (output is copied, input typed in).")
    Path consoleSock;

    @Option(names = "--snapshot-key", paramLabel = "FILE",
            description = "With --api-sock: the key (32+ secret bytes, mode 0600) that authenticates snapshots made"
                    + " and loaded through /snapshot/create and /snapshot/load (default: the host key in the state"
                    + " directory, created on the first snapshot).")
    Path snapshotKey;

    @Option(names = "--id", paramLabel = "ID", description = "Instance id reported by the API (default: ${DEFAULT-VALUE}).")
    String id = "anonymous-instance";

    @Option(names = "--initrd", paramLabel = "PATH", description = "Initial ramdisk (e.g. a cpio.gz initramfs).")
    Path initrd;

    @Option(names = "--cmdline", paramLabel = "STR", description = "Kernel command line (default: ${DEFAULT-VALUE}).")
    String cmdline = VmConfig.DEFAULT_CMDLINE;

    @Option(names = "--cpus", paramLabel = "N", description = "vCPUs (default: ${DEFAULT-VALUE}).")
    int cpus = VmConfig.DEFAULT_CPUS;

    @Option(names = "--memory", paramLabel = "SIZE", description = "Guest RAM, like 512M or 2G (default: ${DEFAULT-VALUE}).")
    String memory = "512M";

    @Option(names = "--on-reboot", paramLabel = "exit|restart",
            description = "What a guest reboot does: exit the VMM or restart the VM (default: ${DEFAULT-VALUE}).",
            converter = OnRebootConverter.class)
    OnReboot onReboot = OnReboot.EXIT;

    @Option(names = "--nested", description = "Expose hardware virtualization (VMX/SVM) to the guest.")
    boolean nested;

    @Option(names = "--disk", paramLabel = "path=FILE[,readonly=on][,id=NAME]",
            description = "A raw disk image as virtio-blk (repeatable; /dev/vda, /dev/vdb, ...).")
    List<String> disks = new ArrayList<>();

    @Option(names = "--net", paramLabel = "tap=NAME[,mac=MAC]",
            description = "A virtio-net interface on an existing TAP device (repeatable).")
    List<String> nets = new ArrayList<>();

    @Option(names = "--rng", description = "A virtio-rng entropy device (the guest's /dev/hwrng).")
    boolean rng;

    @Option(names = "--vsock", paramLabel = "cid=N,uds=PATH",
            description = "A virtio-vsock device, guest CID N (3 or more), reached through the Unix socket PATH as in"
                    + " Firecracker: host clients connect to PATH and send 'CONNECT <port>\\n'; guest connections to"
                    + " host port P go to PATH_P.")
    String vsock;

    @Option(names = "--display", arity = "0..1", fallbackValue = "", paramLabel = "width=N,height=N,vram=SIZE",
            description = "A bochs-display framebuffer (the guest's bochs DRM driver; fbdev console on tty0), its EDID"
                    + " offering WIDTHxHEIGHT (default 1024x768) with VRAM SIZE (default 16M). Without --cmdline the"
                    + " kernel also logs to tty0.")
    String display;

    @Option(names = "--vnc", paramLabel = "PATH|tcp=HOST:PORT,password-file=FILE",
            description = "Serve the display (--display) over VNC (RFB 3.8): on the Unix socket PATH (created 0600;"
                    + " no password, the file's permissions guard it), or on TCP, only with a password (VNC"
                    + " Authentication, the first line of FILE). Keyboard and pointer reach the guest through"
                    + " virtio-input.")
    String vnc;

    @Option(names = "--console", paramLabel = "serial|virtio",
            description = "Where this terminal is connected: the 16550 UART (ttyS0, default) or virtio-console (hvc0).")
    String consoleKind = "serial";

    @Option(names = "--virtio-transport", paramLabel = "pci|mmio",
            description = "How the virtio devices reach the guest: PCI functions (default) or virtio-mmio windows"
                    + " declared in the ACPI DSDT and on the kernel command line, as Firecracker's (the kernel"
                    + " needs CONFIG_VIRTIO_MMIO, and ACPI or CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES; at most 16 devices).")
    String virtioTransport = "pci";

    @Option(names = "--incoming", paramLabel = "tcp:HOST:PORT",
            description = "Wait for a live migration on this address instead of booting (needs --api-sock and --tls-*).")
    String incoming;

    @Option(names = "--trust-source-paths",
            description = "With --incoming and no boot-source/drives/network-interfaces configured here: use the kernel,"
                    + " disk and TAP paths the source recorded (same host or shared storage, a trusted source).")
    boolean trustSourcePaths;

    @Option(names = "--tls-cert", paramLabel = "PEM", description = "Migration: this VMM's certificate.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "Migration: its PKCS#8 private key.")
    Path tlsKey;

    @Option(names = "--tls-ca", paramLabel = "PEM", description = "Migration: CA a peer's certificate must chain to.")
    Path tlsCa;

    @picocli.CommandLine.Mixin
    PlacementOptions placementOptions = new PlacementOptions();

    @picocli.CommandLine.Mixin
    CgroupOptions cgroupOptions = new CgroupOptions();

    @Option(names = "--ksm", description = "Let the host's KSM merge identical pages of guest RAM (off by default:"
            + " pages shared between VMs are a timing side channel).")
    boolean ksm;

    @Option(names = "--seccomp", paramLabel = "off|log|on",
            description = "Once the VM is built, a seccomp filter denies the calls a VMM never makes (exec, fork, ptrace,"
                    + " mount, bpf, module loading...): on kills the VMM, log only logs them (default: on where the kernel"
                    + " has seccomp filters).")
    String seccomp;

    @Option(names = "--landlock", paramLabel = "off|auto|on",
            description = "Once the VM is built, Landlock limits the files the VMM may open to its VM's and the JVM's:"
                    + " auto where the kernel has Landlock, on fails without it (default: auto).")
    String landlock;

    @Option(names = "--uid", paramLabel = "UID",
            description = "Once the VM is built, run as this user (with --gid): the VM's files and TAP devices must be"
                    + " this user's (the Firecracker jailer's --uid; the VMM starts as root).")
    String uid;

    @Option(names = "--gid", paramLabel = "GID", description = "Once the VM is built, run as this group (with --uid).")
    String gid;

    /** --seccomp, --landlock, --uid and --gid, checked against this kernel before anything boots. */
    io.jkvm.isolation.Confinement confinement() {
        try {
            io.jkvm.isolation.VmIdentity identity = io.jkvm.isolation.VmIdentity.parse(uid, gid);
            if (identity != null) {
                // Both are applied as each vCPU starts, after the VMM has left root: say so now, not at boot.
                if (placementOptions.mlock) {
                    throw new IllegalArgumentException("--mlock with --uid: locking guest RAM needs root or the user's"
                            + " RLIMIT_MEMLOCK, and the VMM is no longer root when it locks");
                }
                if (placementOptions.vcpuSched != null && io.jkvm.resources.RtPolicy.parse("--vcpu-sched",
                        placementOptions.vcpuSched).realTime()) {
                    throw new IllegalArgumentException("--vcpu-sched " + placementOptions.vcpuSched + " with --uid: a real-time"
                            + " class needs root or the user's RLIMIT_RTPRIO, and the VMM is no longer root when it sets it");
                }
            }
            return io.jkvm.isolation.Confinement.of(seccomp, landlock).withIdentity(identity).checked();
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
    }

    /** The migration TLS options, validated together (null when none is given). */
    io.jkvm.migration.MigrationTls migrationTls() {
        io.jkvm.migration.MigrationTls tls = MigrationTlsFlags.checked(tlsCert, tlsKey, tlsCa);
        if (tls != null && apiSock == null) {
            throw new UserError("--tls-cert/--tls-key/--tls-ca go with --api-sock (migration is driven through the API)");
        }
        return tls;
    }

    /** --incoming's address, validated with the options it needs (null without --incoming). */
    io.jkvm.migration.MigrationAddress incomingAddress(io.jkvm.migration.MigrationTls tls) {
        if (incoming == null) {
            if (trustSourcePaths) {
                throw new UserError("--trust-source-paths goes with --incoming");
            }
            return null;
        }
        if (apiSock == null) {
            throw new UserError("--incoming needs --api-sock");
        }
        if (configFile != null) {
            throw new UserError("--incoming cannot be combined with --config-file (the VM comes from the source)");
        }
        if (tls == null) {
            throw new UserError("--incoming needs --tls-cert, --tls-key and --tls-ca");
        }
        try {
            return io.jkvm.migration.MigrationAddress.parseAny("--incoming", incoming);
        } catch (io.jkvm.migration.MigrationException e) {
            throw new UserError(e.getMessage());
        }
    }

    @Override
    public Integer call() throws Exception {
        if (mmdsSizeLimit != null && (mmdsSizeLimit < 0 || apiSock == null && configFile == null)) {
            throw new UserError("--mmds-size-limit takes a byte count >= 0 and goes with --api-sock or --config-file");
        }
        if (incoming != null && apiSock == null) {
            throw new UserError("--incoming needs --api-sock");
        }
        if (vnc != null && display == null) {
            throw new UserError("--vnc needs --display (a screen to serve)");
        }
        io.jkvm.config.DisplayConfig apiDisplay = null;
        io.jkvm.config.VncConfig vncConfig = null;
        try {
            apiDisplay = display == null ? null : io.jkvm.config.DisplayConfig.parse(display);
            vncConfig = vnc == null ? null : io.jkvm.config.VncConfig.parse(vnc);
        } catch (ConfigException e) {
            throw new UserError(e.getMessage());
        }
        if (apiSock != null || configFile != null) {
            io.jkvm.config.VirtioTransport transport;
            try {
                transport = io.jkvm.config.VirtioTransport.parse("--virtio-transport", virtioTransport);
            } catch (ConfigException e) {
                throw new UserError(e.getMessage());
            }
            if (kernel != null || initrd != null) {
                throw new UserError("--kernel/--initrd cannot be combined with --api-sock or --config-file "
                        + "(give them as boot-source)");
            }
            if (noApi && apiSock != null) {
                throw new UserError("--no-api and --api-sock contradict each other");
            }
            io.jkvm.migration.MigrationTls tls = migrationTls();
            io.jkvm.migration.MigrationAddress in = incomingAddress(tls);
            ApiVmm vmm = new ApiVmm(apiSock, configFile, consoleSock, id, onReboot, snapshotKey, tls, in)
                    .trustSourcePaths(trustSourcePaths).placement(placementOptions.placement()).ksm(ksm).virtioTransport(transport)
                    .display(apiDisplay, vncConfig)
                    .confinement(confinement()).mmdsSizeLimit(mmdsSizeLimit);
            // Before the API can create guest RAM: its pages are charged where the VMM is when they are touched.
            io.jkvm.resources.Cgroups.Applied cg = cgroupOptions.applyToSelf(cgroupId(), cgroupOptions.settings());
            try {
                return exitStatus(vmm.run());
            } finally {
                releaseCgroups(cg);
            }
        }
        if (snapshotKey != null) {
            throw new UserError("--snapshot-key goes with --api-sock (snapshots are made through the API)");
        }
        if (kernel == null) {
            throw new UserError("missing --kernel (or use --api-sock / --config-file)");
        }
        if (noApi || consoleSock != null) {
            throw new UserError("--no-api and --console-sock go with --config-file or --api-sock");
        }
        if (tlsCert != null || tlsKey != null || tlsCa != null) {
            throw new UserError("--tls-cert/--tls-key/--tls-ca go with --api-sock (migration is driven through the API)");
        }
        // The command line first, then the host: a user fixing a flag learns about the flag even on
        // a host without KVM.
        VmConfig config;
        try {
            boolean virtioConsole = switch (consoleKind) {
                case "serial" -> false;
                case "virtio" -> true;
                default -> throw new ConfigException("--console " + consoleKind + ": must be serial or virtio");
            };
            String line = cmdline;
            if (virtioConsole && !cmdlineGiven()) {
                line = line.replace("console=ttyS0", "console=hvc0");
            }
            io.jkvm.config.DisplayConfig displayConfig = display == null ? null : io.jkvm.config.DisplayConfig.parse(display);
            if (displayConfig != null && !cmdlineGiven()) {
                // Kernel messages on the framebuffer console too; the last console= stays /dev/console (the shell's).
                line = "console=tty0 " + line;
            }
            DeviceConfig devices = new DeviceConfig(disks.stream().map(DiskConfig::parse).toList(),
                    nets.stream().map(NetConfig::parse).toList(), rng, virtioConsole,
                    vsock == null ? null : VsockConfig.parse(vsock)).withDisplay(displayConfig);
            io.jkvm.config.VirtioTransport transport = io.jkvm.config.VirtioTransport.parse("--virtio-transport", virtioTransport);
            if (transport == io.jkvm.config.VirtioTransport.MMIO) {
                try {
                    io.jkvm.arch.x86.VirtioMmioSlots.requireFits(devices.count());
                } catch (IllegalArgumentException e) {
                    throw new ConfigException("--virtio-transport mmio: " + e.getMessage());
                }
            }
            config = new VmConfigValidator(HostLimits.beforeKvm())
                    .validate(kernel, initrd, line, cpus, memory, onReboot, nested).withDevices(devices)
                    .withVirtioTransport(transport);
            for (DiskConfig d : devices.disks()) {
                if (!java.nio.file.Files.isRegularFile(d.path())) {
                    throw new ConfigException("--disk " + d.path() + ": no such file");
                }
            }
        } catch (ConfigException e) {
            throw new UserError(e.getMessage());
        }
        io.jkvm.resources.VcpuPlacement placement = placementOptions.placement();
        PlacementOptions.requireVcpus(placement, config.cpus());
        io.jkvm.isolation.Confinement confine = confinement();
        List<io.jkvm.resources.CgroupSetting> cgroupSettings = cgroupOptions.settings();
        int maxVcpus;
        try (Kvm kvm = Kvm.open()) {
            maxVcpus = kvm.maxVcpus();
        } catch (NativeException e) {
            throw new ExitCodeError(Cli.EXIT_FAILURE, "cannot use KVM: " + e.getMessage() + " (`jkvm host-check` says why;"
                    + " `jkvm lab run ...` runs this VM in the lab instead)");
        }
        if (config.cpus() > maxVcpus) {
            throw new UserError("--cpus " + config.cpus() + ": must be between 1 and " + maxVcpus
                    + " (the most KVM allows per VM on this host)");
        }
        io.jkvm.resources.Cgroups.Applied cg = cgroupOptions.applyToSelf(cgroupId(), cgroupSettings);
        RawTerminal raw = RawTerminal.enterIfTty();
        MachineExit exit;
        try {
            LinuxVm vm = new LinuxVm(config, new LinuxVm.Console(new io.jkvm.kvm.FdInputStream(0, 4096),
                    new FileOutputStream(FileDescriptor.out), raw != null));
            vm.placement(placement);
            vm.ksm(ksm);
            if (vncConfig != null) {
                try {
                    vm.serveVnc(vncConfig);
                } catch (java.io.IOException e) {
                    throw new UserError("--vnc " + vncConfig + ": cannot listen: " + e.getMessage());
                } catch (IllegalArgumentException e) {
                    throw new UserError("--vnc: " + e.getMessage());
                }
            }
            vm.beforeFirstStart(confine.hook(List::of, RunCommand::logConfinement));
            // kill -USR1: what each vCPU is doing, on stderr (the console stays on stdout).
            ReportSignal.install(vm::report, r -> {
                System.err.print(ReportText.render(r).replace("\n", raw != null ? "\r\n" : "\n"));
                System.err.flush();
            });
            exit = vm.run();
        } catch (BootException e) {
            throw new UserError(e.getMessage());
        } catch (java.io.IOException e) {
            String hint = uid != null && String.valueOf(e.getMessage()).contains("(errno 13)")
                    ? " (the VMM opens its VM's files as --uid " + uid.strip() + ")" : "";
            throw new UserError("cannot start the VM: " + e.getMessage() + hint);
        } finally {
            if (raw != null) {
                raw.close();
            }
            releaseCgroups(cg);
        }
        return exitStatus(exit);
    }

    /** The VM's cgroups are named by its --id; without one, by this process's pid, so two VMs never share one. */
    private String cgroupId() {
        boolean given = spec != null && spec.commandLine().getParseResult() != null
                && spec.commandLine().getParseResult().hasMatchedOption("--id");
        return given ? id : "pid-" + ProcessHandle.current().pid();
    }

    /**
     * Moves the VMM back out and removes its cgroups, where it still may: once confined, the VMM
     * may not write the cgroup hierarchy, so the empty cgroup stays for its launcher to remove
     * (jkvm's daemon does), as the Firecracker jailer leaves its cgroups.
     */
    private static void releaseCgroups(io.jkvm.resources.Cgroups.Applied cg) {
        if (cg != null) {
            io.jkvm.resources.Cgroups.release(cg);
        }
    }

    /** The console is the guest's: confinement speaks up only when Landlock is missing (or with JKVM_LOG=info). */
    private static void logConfinement(io.jkvm.isolation.Confinement.Outcome o) {
        org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(io.jkvm.isolation.Confinement.class);
        if (o.landlockUnavailable()) {
            log.warn("Landlock is unavailable: {}; continuing without it (--landlock auto)", o.landlockUnavailableReason());
        }
        log.info("confined in {} us: seccomp {}, landlock {}{}", o.micros(), o.seccomp(), o.landlock(),
                o.landlockScope() == null ? "" : " for " + o.landlockScope());
    }

    /** The exit status scripts rely on, printing what happened to stderr. */
    static int exitStatus(MachineExit exit) {
        return switch (exit.reason()) {
            case POWER_OFF, STOPPED, HALTED -> {
                System.err.println("jkvm: " + exit.detail());
                yield 0;
            }
            case REBOOT -> {
                System.err.println("jkvm: guest rebooted (" + exit.detail() + "); exiting as --on-reboot is exit");
                yield 0;
            }
            case TRIPLE_FAULT -> {
                System.err.println("jkvm: " + exit.detail());
                yield 3;
            }
            case ERROR -> {
                System.err.println("jkvm: guest stopped with an error: " + exit.detail());
                yield 1;
            }
        };
    }

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    private boolean cmdlineGiven() {
        return spec != null && spec.commandLine().getParseResult() != null
                && spec.commandLine().getParseResult().hasMatchedOption("--cmdline");
    }

    /** Accepts exit|restart in any case and says what is allowed otherwise. */
    static final class OnRebootConverter implements picocli.CommandLine.ITypeConverter<OnReboot> {
        @Override
        public OnReboot convert(String value) {
            for (OnReboot r : OnReboot.values()) {
                if (r.name().equalsIgnoreCase(value)) {
                    return r;
                }
            }
            throw new picocli.CommandLine.TypeConversionException("'" + value + "' is not one of exit, restart");
        }
    }
}
