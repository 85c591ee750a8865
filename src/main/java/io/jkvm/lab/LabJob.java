package io.jkvm.lab;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * One lab run's directory under the host's /tmp (shared with L1 at the same path). It carries the
 * command to L1 as files rather than on the kernel command line, which has no quoting and a
 * length limit: {@code job} (sourced by L1's /init), {@code cmd.sh} (run inside the chroot),
 * and receives {@code status} back. The unix sockets for the command's stdio live here too.
 */
final class LabJob implements AutoCloseable {
    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    /** A writable 9p share: QEMU mount tag and the path it appears at on both sides. */
    record Share(String tag, Path path) {}

    private final Path dir;

    private LabJob(Path dir) {
        this.dir = dir;
    }

    /** Creates the directory; /tmp is fixed because that is what L1 mounts. */
    static LabJob create() throws IOException {
        return new LabJob(Files.createTempDirectory(Path.of("/tmp"), "jkvm-lab-"));
    }

    Path dir() {
        return dir;
    }

    Path socket(String name) {
        return dir.resolve(name + ".sock");
    }

    void write(List<String> command, LabOptions opts, List<Share> shares, Optional<int[]> termSize)
            throws IOException {
        StringBuilder job = new StringBuilder("# jkvm lab job (sourced by L1's /init)\n");
        job.append("TTY=").append(opts.tty() ? 1 : 0).append('\n');
        termSize.ifPresent(rc -> job.append("ROWS=").append(rc[0]).append(" COLS=").append(rc[1]).append('\n'));
        for (Share s : shares) {
            job.append("share ").append(s.tag()).append(' ').append(quote(s.path().toString())).append('\n');
        }
        Files.writeString(dir.resolve("job"), job);
        Files.writeString(dir.resolve("cmd.sh"), script(command, opts.workDir(), opts.env()));
    }

    /** The command as a POSIX sh script: environment, working directory, exec. */
    static String script(List<String> command, Path workDir, Map<String, String> env) {
        if (command.isEmpty()) {
            throw new IllegalArgumentException("no command to run in the lab");
        }
        StringBuilder s = new StringBuilder("# jkvm lab command (run by the host's /bin/sh in L1)\n");
        env.forEach((k, v) -> {
            if (!ENV_NAME.matcher(k).matches()) {
                throw new IllegalArgumentException("bad environment variable name: " + k);
            }
            s.append("export ").append(k).append('=').append(quote(v)).append('\n');
        });
        s.append("cd -- ").append(quote(workDir.toString()))
                .append(" || { echo \"jkvm lab: cannot enter ").append(workDir.toString().replace("\"", ""))
                .append(" in L1\" >&2; exit 125; }\n");
        s.append("exec");
        for (String a : command) {
            s.append(' ').append(quote(a));
        }
        return s.append('\n').toString();
    }

    /** Single-quotes a word for sh. */
    static String quote(String w) {
        return "'" + w.replace("'", "'\\''") + "'";
    }

    /** "exit N" or "error MESSAGE" written by L1, if it got that far. */
    Optional<String> status() throws IOException {
        Path p = dir.resolve("status");
        return Files.isRegularFile(p) ? Optional.of(Files.readString(p).strip()) : Optional.empty();
    }

    @Override
    public void close() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
