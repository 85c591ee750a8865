package io.jkvm.cli;

import io.jkvm.image.JkvmHome;
import io.jkvm.isolation.Jail;
import io.jkvm.isolation.JailerConfig;
import io.jkvm.resources.CgroupSetting;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * {@code jkvm jailer}: Firecracker's jailer command line (its docs/jailer.md), so tools that start
 * Firecracker through its jailer (Kata Containers with {@code jailer_path}, firecracker-containerd)
 * start jkvm's VMM jailed the same way: the same jail directory, pid file, cgroups, namespaces,
 * user and limits. {@link Jail} says how, and why it works from a JVM.
 */
@Command(name = "jailer", sortOptions = false,
        description = {"Start jkvm's VMM (bin/firecracker) in a jail, with Firecracker's jailer command line.",
                "  jkvm jailer --id ID --exec-file .../bin/firecracker --uid UID --gid GID [options] -- [VMM options]",
                "The jail is <chroot-base-dir>/<exec file name>/<id>/root; the VMM's pid is in <exec file name>.pid there.",
                "Must run as root. Exit status: 2 bad flags, 1 a step failed (the message names it)."})
public final class JailerCommand implements Callable<Integer> {
    @Option(names = "--id", required = true, paramLabel = "ID", description = "The VM's id: 1 to 64 letters, digits or '-'.")
    String id;

    @Option(names = "--exec-file", required = true, paramLabel = "PATH", description = "jkvm's bin/firecracker (or a link to it).")
    Path execFile;

    @Option(names = "--uid", required = true, paramLabel = "UID", description = "The user the VMM runs as.")
    String uid;

    @Option(names = "--gid", required = true, paramLabel = "GID", description = "The group the VMM runs as.")
    String gid;

    @Option(names = "--parent-cgroup", paramLabel = "PATH", description = "Parent of the VM's cgroup (default: the exec file's name).")
    String parentCgroup;

    @Option(names = "--cgroup-version", paramLabel = "1|2", description = "The cgroup hierarchy --cgroup writes to (default: ${DEFAULT-VALUE}).")
    int cgroupVersion = 1;

    @Option(names = "--cgroup", paramLabel = "FILE=VALUE", description = "A cgroup file of the VM's cgroup and its value (repeatable).")
    List<String> cgroups = new ArrayList<>();

    @Option(names = "--chroot-base-dir", paramLabel = "DIR", description = "Where jails are built (default: ${DEFAULT-VALUE}).")
    Path chrootBase = JailerConfig.DEFAULT_CHROOT_BASE;

    @Option(names = "--netns", paramLabel = "PATH", description = "Join this network namespace (e.g. /var/run/netns/NAME).")
    Path netns;

    @Option(names = "--resource-limit", paramLabel = "RESOURCE=N", description = "fsize=BYTES or no-file=N (repeatable; no-file is 2048 unless given).")
    List<String> resourceLimits = new ArrayList<>();

    @Option(names = "--daemonize", description = "New session; standard input, output and error on /dev/null.")
    boolean daemonize;

    @Option(names = "--new-pid-ns", description = "Start the VMM as the first process of a new PID namespace.")
    boolean newPidNs;

    @Option(names = "--node", paramLabel = "N", description = "Older jailers' NUMA flag, which Kata still passes: the VM's"
            + " cpuset cgroup gets node N's memory and CPUs.")
    Integer node;

    @Option(names = "--seccomp-level", paramLabel = "0|1|2", description = "Older jailers' flag: 0 starts the VMM with"
            + " --seccomp off, 1 and 2 with its filter on.")
    Integer seccompLevel;

    @Parameters(paramLabel = "VMM_ARG", description = "After --: the VMM's own options (bin/firecracker's).")
    List<String> vmmArgs = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        long startUs = System.nanoTime() / 1000; // CLOCK_MONOTONIC, as the VMM's --start-time-us expects
        long startCpuUs = ProcessHandle.current().info().totalCpuDuration().map(d -> d.toNanos() / 1000).orElse(0L);
        JailerConfig c = config();
        requireJkvmLauncher(c.execFile());
        if (io.jkvm.kvm.Native.geteuid() != 0) {
            throw new UserError("jailer: must run as root (it makes namespaces, mounts and device nodes), not uid "
                    + io.jkvm.kvm.Native.geteuid());
        }
        try {
            Jail.run(c, vmm(c, startUs, startCpuUs));
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        return 0; // with --new-pid-ns: the VMM runs on as this process's child, its pid in the jail's pid file
    }

    /** The flags as a checked record. */
    JailerConfig config() {
        try {
            Long[] limits = JailerConfig.resourceLimits(resourceLimits);
            List<CgroupSetting> settings = new ArrayList<>(numaNode());
            cgroups.stream().map(CgroupSetting::parse).forEach(settings::add);
            List<String> forwarded = new ArrayList<>(vmmArgs);
            if (seccompLevel != null) {
                if (seccompLevel < 0 || seccompLevel > 2) {
                    throw new IllegalArgumentException("--seccomp-level " + seccompLevel + ": 0, 1 or 2");
                }
                if (seccompLevel == 0) {
                    forwarded.addAll(0, List.of("--seccomp", "off"));
                }
            }
            return new JailerConfig(id, execFile, number("--uid", uid), number("--gid", gid), chrootBase, netns, daemonize,
                    newPidNs, cgroupVersion, settings, parentCgroup, limits[0], limits[1], forwarded);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage().startsWith("cgroup ") ? "--" + e.getMessage() : e.getMessage());
        }
    }

    /** {@code --node N}: cpuset.mems=N and cpuset.cpus=node N's CPUs (sysfs), as older jailers wrote them. */
    private List<CgroupSetting> numaNode() {
        if (node == null) {
            return List.of();
        }
        Path cpus = Path.of("/sys/devices/system/node", "node" + node, "cpulist");
        if (node < 0 || !Files.isRegularFile(cpus)) {
            throw new IllegalArgumentException("--node " + node + ": no NUMA node " + node + " on this host (" + cpus.getParent() + ")");
        }
        try {
            return List.of(new CgroupSetting("cpuset.mems", String.valueOf(node)),
                    new CgroupSetting("cpuset.cpus", Files.readString(cpus).strip()));
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("--node " + node + ": cannot read " + cpus + ": " + e.getMessage());
        }
    }

    private static int number(String flag, String text) {
        if (text == null || !text.matches("[0-9]{1,10}") || Long.parseLong(text) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(flag + " " + text + ": must be a number from 0 to 2147483647");
        }
        return Integer.parseInt(text);
    }

    /**
     * The exec file must be this jkvm's {@code bin/firecracker}: the jailer starts jkvm's VMM (a
     * JVM, which it runs directly, with this JVM's options and class path) and nothing else.
     */
    static void requireJkvmLauncher(Path execFile) {
        Path launcher = jkvmHome().resolve("bin").resolve("firecracker");
        try {
            if (Files.isSameFile(execFile, launcher)) {
                return;
            }
        } catch (java.io.IOException e) {
            // Not the same file.
        }
        throw new UserError("--exec-file " + execFile + ": not jkvm's VMM launcher (" + launcher
                + ", or a link to it); jkvm's jailer starts jkvm's VMM only");
    }

    /** jkvm's directory ($JKVM_HOME, which bin/jkvm sets). */
    static Path jkvmHome() {
        return JkvmHome.get();
    }

    /**
     * The jars a jar's manifest adds to the class path (target/jkvm.jar's lib/*.jar), each bound
     * into the jail as a file: the VMM's user may read a jar whose directory it may not list.
     */
    static List<Path> manifestClassPath(Path jar) {
        if (!Files.isRegularFile(jar)) {
            return List.of();
        }
        try (JarFile j = new JarFile(jar.toFile())) {
            Manifest m = j.getManifest();
            String cp = m == null ? null : m.getMainAttributes().getValue(Attributes.Name.CLASS_PATH);
            if (cp == null || cp.isBlank()) {
                return List.of();
            }
            List<Path> out = new ArrayList<>();
            for (String rel : cp.strip().split("\\s+")) {
                out.add(jar.getParent().resolve(rel).normalize());
            }
            return out;
        } catch (java.io.IOException | java.nio.file.InvalidPathException e) {
            return List.of(); // not a jar (or not readable): it adds nothing; the jail's checks say if the VMM cannot read it
        }
    }

    /**
     * The VMM's command: this JVM's own java, options and class path running {@code jkvm
     * firecracker}, with what Firecracker's jailer passes ({@code --id}, the start marks) and the
     * options after {@code --}. bin/jkvm gives the jailer the JVM options of an API VMM.
     */
    static Jail.Vmm vmm(JailerConfig c, long startUs, long startCpuUs) {
        Path javaHome = Path.of(System.getProperty("java.home"));
        String java = javaHome.resolve("bin").resolve("java").toString();
        List<String> argv = new ArrayList<>();
        List<Path> needs = new ArrayList<>();
        argv.add(java);
        needs.add(javaHome);
        for (String opt : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            argv.add(opt);
            // Class-data files the options name must be in the jail too (the JVM maps them at start).
            for (String prefix : List.of("-XX:AOTCache=", "-XX:SharedArchiveFile=")) {
                if (opt.startsWith(prefix)) {
                    needs.add(Path.of(opt.substring(prefix.length())));
                }
            }
        }
        String classPath = System.getProperty("java.class.path");
        for (String entry : classPath.split(File.pathSeparator)) {
            Path p = Path.of(entry).toAbsolutePath();
            needs.add(p);
            needs.addAll(manifestClassPath(p));
        }
        argv.addAll(List.of("-cp", classPath, Main.class.getName(), "firecracker", "--id=" + c.id(),
                "--start-time-us=" + startUs, "--start-time-cpu-us=" + startCpuUs));
        argv.addAll(c.vmmArgs());
        return new Jail.Vmm(java, argv, needs);
    }
}
