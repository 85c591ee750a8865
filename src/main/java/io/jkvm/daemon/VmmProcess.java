package io.jkvm.daemon;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Spawning and recognising VMM processes. Each VM runs {@code jkvm run --api-sock ...} under
 * {@code setsid}, in a session and process group of its own, so it outlives the daemon (as
 * libvirt's QEMU processes do) and a signal to the daemon's group does not reach it. A pid read
 * back from disk is trusted only if {@code /proc/PID/cmdline} is a jkvm VMM serving that VM's API
 * socket and the process started when recorded, so a reused pid is never signalled.
 */
public final class VmmProcess {
    static final String MAIN_CLASS = "io.jkvm.cli.Main";

    private VmmProcess() {}

    /** The command that runs a VMM: this JVM's java and classpath, sized for a VMM. */
    static List<String> command(Path apiSocket, Path consoleSocket, String id, Path snapshotKey) {
        return command(apiSocket, consoleSocket, id, snapshotKey, List.of());
    }

    /** As above, with the VM's tuning flags ({@link io.jkvm.resources.VmTuning#flags}). */
    static List<String> command(Path apiSocket, Path consoleSocket, String id, Path snapshotKey, List<String> tuning) {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
            cmd.add("/usr/bin/setsid");
        }
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(VMM_JVM);
        cmd.addAll(classDataOptions());
        cmd.addAll(extraJavaOptions(System.getenv(JAVA_OPTS_ENV)));
        String level = System.getProperty("org.slf4j.simpleLogger.defaultLogLevel");
        if (level != null) {
            cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=" + level);
        }
        cmd.add("-cp");
        cmd.add(absoluteClassPath());
        cmd.add(MAIN_CLASS);
        cmd.addAll(List.of("run", "--api-sock", apiSocket.toString(), "--console-sock", consoleSocket.toString(),
                "--id", id));
        if (snapshotKey != null) {
            cmd.addAll(List.of("--snapshot-key", snapshotKey.toString()));
        }
        cmd.addAll(tuning);
        return cmd;
    }

    /**
     * A VMM's own JVM settings: its collector, its sizes, no hsperfdata file. Its -Xshare mode is
     * the daemon's ({@link #classDataOptions}): the JVM refuses any -Xshare option beside
     * -XX:AOTCache, and with a -XX:SharedArchiveFile it needs -Xshare:auto to start without an
     * archive it cannot use.
     */
    private static final List<String> VMM_JVM = List.of("-XX:+UseSerialGC", "-Xms8m", "-Xmx96m",
            "-Xss1m", "-XX:-UsePerfData");

    /** Extra JVM options for every VMM the daemon starts, e.g. {@code -Xmx200m} or {@code -XX:TieredStopAtLevel=1}. */
    public static final String JAVA_OPTS_ENV = "JKVM_VMM_JAVA_OPTS";
    private static final java.util.regex.Pattern JVM_OPTION =
            java.util.regex.Pattern.compile("-(X|XX:|D)[A-Za-z0-9+_.:=/,-]+|-verbose:[a-z,]+");

    /**
     * Options that load code, run commands, read more options or write class data: not passed on.
     * ({@code -Xrun} loads an agent; {@code -XX:On...} runs a command on an error; the class-data
     * writers, at exit, at start or on a jcmd request, would let a VMM, running as its VM's uid,
     * write what other JVMs load: {@link #classDataOptions}.)
     */
    private static final List<String> REFUSED = List.of("-Xrun", "-Xbootclasspath", "-XX:On", "-XX:Flags",
            "-XX:VMOptionsFile", "-XX:ArchiveClassesAtExit", "-XX:+AutoCreateSharedArchive", "-XX:AOTCacheOutput",
            "-XX:AOTMode=record", "-XX:AOTMode=create", "-Xshare:dump", "-XX:DumpLoadedClassList",
            "-XX:+RecordDynamicDumpInfo");

    /**
     * The environment variables a JVM reads options from (JAVA_TOOL_OPTIONS and _JAVA_OPTIONS by
     * HotSpot itself, JDK_JAVA_OPTIONS by the java launcher). A VMM's environment does not carry
     * them: its options are the daemon's to build, and what they hold would bypass the checks of
     * {@value #JAVA_OPTS_ENV} (a class-data writer, an agent). They apply to the daemon's own JVM.
     */
    public static final List<String> JVM_OPTION_VARIABLES = List.of("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS");

    /**
     * {@value #JAVA_OPTS_ENV}, split at whitespace: JVM options only ({@code -X...}, {@code
     * -XX:...}, {@code -D...}, {@code -verbose:...}), less {@link #REFUSED}. Anything else (a class
     * path, a main class, an agent) is refused naming it: the VMM's command line is the daemon's to
     * build. Whether this JDK takes the options is {@link #checkJavaOptions}'s question.
     */
    public static List<String> extraJavaOptions(String value) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (String o : value.strip().split("\\s+")) {
            if (!JVM_OPTION.matcher(o).matches() || REFUSED.stream().anyMatch(o::startsWith)) {
                throw new IllegalArgumentException(JAVA_OPTS_ENV + ": '" + o + "' is not a JVM option this daemon passes on"
                        + " (-X..., -XX:..., -D... or -verbose:..., without agents, commands to run, option files"
                        + ", class data written or a class path)");
            }
            out.add(o);
        }
        return List.copyOf(out);
    }

    /**
     * Starts this JDK once with {@code options} ({@code java OPTIONS -version}), so a flag it does
     * not know, or one that conflicts with a VMM's own, stops the daemon at start instead of every
     * VM start. Returns nothing when the JVM starts; otherwise throws with its first error line.
     */
    public static void checkJavaOptions(List<String> options) throws IOException, InterruptedException {
        if (options.isEmpty()) {
            return;
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(VMM_JVM);
        cmd.addAll(options);
        cmd.add("-version");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readNBytes(64 * 1024), StandardCharsets.UTF_8);
        p.getInputStream().close();
        if (!p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalArgumentException(JAVA_OPTS_ENV + ": java with these options did not start within 120 s");
        }
        if (p.exitValue() != 0) {
            String first = out.lines().filter(l -> !l.isBlank()).findFirst().orElse("exit status " + p.exitValue());
            throw new IllegalArgumentException(JAVA_OPTS_ENV + ": the JVM refuses them: " + first);
        }
    }

    /**
     * The daemon's own class-data options (bin/jkvm's AOT cache, or a CDS archive), for its VMMs:
     * they run the same classes from the same class path, so they start from the same cache
     * instead of loading and linking every class again. They read it and never write it: a
     * dynamic archive is written by the first JVM to exit, and a VMM exits as its VM's own uid,
     * confined; what it wrote would then be mapped by every later JVM, root's included (a guest
     * that took over one VMM could plant class data in all of them). One written that way in the
     * lab made the next JVM stop at start ("Unrecoverable archive loading error"), so
     * -XX:+AutoCreateSharedArchive stays with the daemon.
     */
    static List<String> classDataOptions() {
        return classDataOptions(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    /** The class-data options among a daemon JVM's {@code jvmArgs}. */
    static List<String> classDataOptions(List<String> jvmArgs) {
        List<String> out = new ArrayList<>();
        for (String a : jvmArgs) {
            if (a.startsWith("-XX:AOTCache=") || a.startsWith("-XX:SharedArchiveFile=") || a.startsWith("-Xshare:")
                    || a.startsWith("-Xlog:aot") || a.startsWith("-Xlog:cds")) {
                out.add(a);
            }
        }
        // A daemon that writes its archive itself may run without an -Xshare mode; a VMM that
        // only reads it needs -Xshare:auto to start while the archive does not exist yet.
        if (out.stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile=")) && out.stream().noneMatch(a -> a.startsWith("-Xshare:"))) {
            out.addFirst("-Xshare:auto");
        }
        return out;
    }

    private static String absoluteClassPath() {
        String[] parts = System.getProperty("java.class.path").split(File.pathSeparator);
        StringBuilder sb = new StringBuilder();
        for (String p : parts) {
            if (p.isEmpty()) {
                continue;
            }
            if (!sb.isEmpty()) {
                sb.append(File.pathSeparator);
            }
            sb.append(Path.of(p).toAbsolutePath());
        }
        return sb.toString();
    }

    /** The daemon's environment, less what would give a VMM JVM options: {@link #JVM_OPTION_VARIABLES}. */
    static void scrubJvmOptions(java.util.Map<String, String> environment) {
        environment.keySet().removeAll(JVM_OPTION_VARIABLES);
    }

    /** Those of {@link #JVM_OPTION_VARIABLES} set (not blank) in {@code environment}, for the daemon to say so at start. */
    public static List<String> jvmOptionVariablesSet(java.util.Map<String, String> environment) {
        return JVM_OPTION_VARIABLES.stream().filter(v -> environment.get(v) != null && !environment.get(v).isBlank())
                .toList();
    }

    /** Starts the VMM with stdin from /dev/null, serial output (stdout) and events (stderr) appended to logs. */
    static Process spawn(Path apiSocket, Path consoleSocket, String id, Path snapshotKey, List<String> tuning,
            Path serialLog, Path vmmLog) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command(apiSocket, consoleSocket, id, snapshotKey, tuning))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(serialLog.toFile()))
                .redirectError(ProcessBuilder.Redirect.appendTo(vmmLog.toFile()));
        scrubJvmOptions(pb.environment());
        if (io.jkvm.kvm.KvmDevice.overridden()) {
            // --kvm-device given to the daemon: its VMMs open the same device.
            pb.environment().put(io.jkvm.kvm.KvmDevice.ENV, io.jkvm.kvm.KvmDevice.path().toString());
        }
        return pb.start();
    }

    /** The process's start time as recorded for identity checks ("" if unknown). */
    static String startTime(long pid) {
        return ProcessHandle.of(pid).flatMap(h -> h.info().startInstant()).map(Object::toString).orElse("");
    }

    /** True if {@code pid} is alive and is the VMM serving {@code apiSocket} that started at {@code start}. */
    static boolean isOurVmm(long pid, Path apiSocket, String start) {
        if (pid <= 0 || !alive(pid)) {
            return false;
        }
        List<String> args = cmdline(pid);
        int i = args.indexOf("--api-sock");
        boolean ours = args.contains(MAIN_CLASS) && i >= 0 && i + 1 < args.size()
                && args.get(i + 1).equals(apiSocket.toString());
        if (!ours) {
            return false;
        }
        String now = startTime(pid);
        return start == null || start.isEmpty() || now.isEmpty() || now.equals(start);
    }

    /** Alive and not a zombie (a zombie has exited; only its parent has yet to collect it). */
    static boolean alive(long pid) {
        Optional<ProcessHandle> h = ProcessHandle.of(pid);
        if (h.isEmpty() || !h.get().isAlive()) {
            return false;
        }
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            int close = stat.lastIndexOf(')');
            return close < 0 || close + 2 >= stat.length() || stat.charAt(close + 2) != 'Z';
        } catch (IOException e) {
            return false;
        }
    }

    static List<String> cmdline(long pid) {
        try {
            byte[] raw = Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline"));
            return Arrays.asList(new String(raw, StandardCharsets.UTF_8).split("\0"));
        } catch (IOException e) {
            return List.of();
        }
    }

    /** SIGKILL. */
    static void kill(long pid) {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }

    /** Polls until the process is gone (or a zombie); false on timeout. */
    static boolean awaitGone(long pid, java.time.Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (alive(pid)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(25);
        }
        return true;
    }
}
