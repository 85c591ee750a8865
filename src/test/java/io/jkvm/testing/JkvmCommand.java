package io.jkvm.testing;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line that runs jkvm's CLI from the classes under test (no packaging step needed),
 * usable on this host and inside the lab, where the host's files are at the same paths.
 */
public final class JkvmCommand {
    private JkvmCommand() {}

    public static List<String> of(String... args) {
        return java("io.jkvm.cli.Main", args);
    }

    /**
     * As {@link #of}, on this JVM's own class path and without the children's shared archive: for
     * a child that starts a JVM as another user (the tier's packed jars and archive may be root's alone).
     */
    public static List<String> ofOwnClassPath(String... args) {
        return java(System.getProperty("java.class.path"), List.of(), "io.jkvm.cli.Main", args);
    }

    /** A JVM as {@link #of} starts it, running {@code mainClass} of the classes under test (a test tool). */
    public static List<String> java(String mainClass, String... args) {
        return java(ChildJvm.classPath(), ChildJvm.options(), mainClass, args);
    }

    /** The same with {@code classPath} and class-data options {@code classData} of its own. */
    static List<String> java(String classPath, List<String> classData, String mainClass, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-XX:TieredStopAtLevel=1");
        // Explicit: beside a -XX:SharedArchiveFile (the tier's children) the JVM otherwise refuses to
        // start when that archive cannot be used.
        cmd.add("-Xshare:auto");
        // No hsperfdata file: inside the lab /tmp is the host's (9p), shared by every lab machine.
        cmd.add("-XX:-UsePerfData");
        cmd.addAll(classData);
        // Extra JVM options, as bin/jkvm takes them (JKVM_JAVA_OPTS): the lab's reliability experiments use it.
        String extra = System.getenv("JKVM_JAVA_OPTS");
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.strip().split("\\s+")));
        }
        // A VMM under test whose guest console goes silent this long logs each vCPU's state on its
        // stderr (SilentConsoleReporter): a stuck boot in CI then says where it is stuck.
        cmd.add("-Djkvm.hang.report=" + System.getProperty("jkvm.test.hang.report", "180"));
        // Migration peers wait for each other this long; a slow host (the lab) scales it like every wait.
        cmd.add(Patience.migrationIoTimeoutOption());
        String log = System.getProperty("jkvm.test.log");
        if (log != null) {
            cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=" + log);
        }
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** The same, as one shell-quoted string for scripts. */
    public static String shell(String... args) {
        return quoted(of(args));
    }

    /** A command as one shell-quoted string. */
    public static String quoted(List<String> command) {
        StringBuilder sb = new StringBuilder();
        for (String a : command) {
            if (!sb.isEmpty()) {
                sb.append(' ');
            }
            sb.append('\'').append(a.replace("'", "'\\''")).append('\'');
        }
        return sb.toString();
    }
}
