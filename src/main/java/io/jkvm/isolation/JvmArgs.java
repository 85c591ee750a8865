package io.jkvm.isolation;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The JVM options this process was started with that matter to confinement, read from its
 * command line (/proc/self/cmdline through ProcessHandle: cheaper at boot than the management
 * beans). Class-data archives written at exit need their directory; a one-step AOT cache
 * (-XX:AOTCacheOutput) is assembled by a child JVM started at exit, which the seccomp filter
 * forbids.
 */
final class JvmArgs {
    private JvmArgs() {}

    static List<String> all() {
        return all(System.getenv(), ProcessHandle.current().info().arguments().orElse(new String[0]));
    }

    /**
     * The command line's arguments and the options the JVM took from its environment:
     * JAVA_TOOL_OPTIONS (read by every JVM) and JDK_JAVA_OPTIONS (by the java launcher), which
     * come before the command line, and _JAVA_OPTIONS, which HotSpot reads after it (so its
     * options win); none is on /proc/self/cmdline. Split at white space, as the JVM splits them.
     */
    static List<String> all(java.util.Map<String, String> env, String[] cmdline) {
        List<String> out = new ArrayList<>();
        for (String var : List.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")) {
            out.addAll(options(env.get(var)));
        }
        out.addAll(List.of(cmdline));
        out.addAll(options(env.get("_JAVA_OPTIONS")));
        return out;
    }

    private static List<String> options(String value) {
        return value == null || value.isBlank() ? List.of() : List.of(value.strip().split("\\s+"));
    }

    /** The files the JVM writes at exit (dynamic CDS archive, AOT configuration), per {@code args}. */
    static List<Path> writtenAtExit(List<String> args) {
        List<Path> out = new ArrayList<>();
        boolean autoCreate = args.contains("-XX:+AutoCreateSharedArchive");
        boolean recording = args.contains("-XX:AOTMode=record");
        for (String a : args) {
            if (a.startsWith("-XX:ArchiveClassesAtExit=")) {
                out.add(Path.of(a.substring(a.indexOf('=') + 1)));
            } else if (autoCreate && a.startsWith("-XX:SharedArchiveFile=")) {
                out.add(Path.of(a.substring(a.indexOf('=') + 1)));
            } else if (recording && a.startsWith("-XX:AOTConfiguration=")) {
                out.add(Path.of(a.substring(a.indexOf('=') + 1)));
            }
        }
        return out;
    }

    /** Whether the JVM starts a child JVM at exit to assemble an AOT cache (JEP 514's one-step workflow). */
    static boolean forksAtExit(List<String> args) {
        return args.stream().anyMatch(a -> a.startsWith("-XX:AOTCacheOutput="));
    }
}
