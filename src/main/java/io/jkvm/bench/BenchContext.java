package io.jkvm.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * What every metric needs: how many samples, how big the loops, a scratch directory, and a place
 * to say what is going on (stderr, so the table on stdout stays clean).
 *
 * @param samples    samples per VMM and figure (at least 3; 5 unless --quick)
 * @param quick      the short variant (fewer samples, smaller loops)
 * @param exits      port/MMIO exits per exit-round-trip run (a multiple of the guest's unroll)
 * @param workDir    scratch directory, deleted by {@link #close()}
 * @param log        progress messages
 */
public record BenchContext(int samples, boolean quick, int exits, Path workDir, PrintStream log)
        implements AutoCloseable {

    public static BenchContext create(int samples, boolean quick, int exits, PrintStream log) throws IOException {
        return new BenchContext(samples, quick, exits, Files.createTempDirectory("jkvm-bench"), log);
    }

    public void say(String format, Object... args) {
        log.println("jkvm bench: " + String.format(format, args));
        log.flush();
    }

    @Override
    public void close() throws IOException {
        try (Stream<Path> w = Files.walk(workDir)) {
            w.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
