package io.jkvm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Threads of a live process found by name, from /proc/PID/task/TID/comm (proc(5)). */
public final class ProcThreads {
    private ProcThreads() {}

    /**
     * The id of the one thread of {@code pid} named {@code name}.
     *
     * @throws AssertionError when there is none, or more than one
     */
    public static int named(long pid, String name) throws IOException {
        List<Integer> ids;
        try (Stream<Path> tasks = Files.list(Path.of("/proc", String.valueOf(pid), "task"))) {
            ids = tasks.filter(t -> {
                try {
                    return Files.readString(t.resolve("comm")).strip().equals(name);
                } catch (IOException gone) {
                    return false; // the thread ended while we looked
                }
            }).map(t -> Integer.parseInt(t.getFileName().toString())).toList();
        }
        if (ids.size() != 1) {
            throw new AssertionError("process " + pid + " has " + ids.size() + " live threads named '" + name + "', not one");
        }
        return ids.getFirst();
    }

    /** As {@link #named(long, String)}, in this process. */
    public static int named(String name) throws IOException {
        return named(ProcessHandle.current().pid(), name);
    }
}
