package io.jkvm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Where this machine keeps the pids controller: a cgroup-v1 hierarchy of its own (this
 * project's hosts) or the unified v2 hierarchy (the lab's Debian), for tests that put a VMM in
 * a cgroup with the jailer's {@code --cgroup-version} and look for it afterwards.
 *
 * @param version 1 or 2
 * @param mount   the hierarchy's mount point
 */
public record PidsCgroup(int version, Path mount) {
    /**
     * The pids controller's hierarchy, from /proc/self/mountinfo; v1 first, as the jailer's
     * default. Empty where no cgroup file system is mounted (the lab's machines mount none).
     */
    public static java.util.Optional<PidsCgroup> find() throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/mountinfo"));
        PidsCgroup v2 = null;
        for (String line : lines) {
            String[] pre = line.substring(0, line.indexOf(" - ")).split(" ");
            String[] post = line.substring(line.indexOf(" - ") + 3).split(" ");
            if (!pre[3].equals("/")) {
                continue;
            }
            if (post[0].equals("cgroup") && List.of(post[2].split(",")).contains("pids")) {
                return java.util.Optional.of(new PidsCgroup(1, Path.of(pre[4])));
            }
            if (post[0].equals("cgroup2") && v2 == null
                    && List.of(Files.readString(Path.of(pre[4], "cgroup.controllers")).strip().split(" ")).contains("pids")) {
                v2 = new PidsCgroup(2, Path.of(pre[4]));
            }
        }
        return java.util.Optional.ofNullable(v2);
    }

    /** The cgroup the jailer makes for {@code id} below {@code parent}. */
    public Path dir(String parent, String id) {
        return mount.resolve(parent).resolve(id);
    }

    /** The line of /proc/PID/cgroup that says a process is in that cgroup. */
    public String membership(String parent, String id) {
        return (version == 1 ? ":pids:/" : "0::/") + parent + "/" + id + "\n";
    }

    /** Removes the cgroup once a killed VMM's last threads have left it (bounded). */
    public void remove(String parent, String id) throws IOException {
        Path dir = dir(parent, id);
        if (!Files.isDirectory(dir)) {
            return;
        }
        long deadline = System.nanoTime() + Patience.of(Duration.ofSeconds(10)).toNanos();
        while (!Files.readString(dir.resolve("cgroup.procs")).isBlank() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(10_000_000L);
        }
        Files.delete(dir);
    }
}
