package io.jkvm.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The floor: a minimal C KVM_RUN loop (resource {@code kvm-floor.c}), compiled with gcc into the
 * scratch directory at run time. Test tooling, never part of the product.
 */
final class CFloor {
    private static final Pattern OUTPUT = Pattern.compile("exits=(\\d+) ns=(\\d+)");

    /** What one run printed. */
    record Run(long exits, long nanos) {}

    private final Path binary;

    private CFloor(Path binary) {
        this.binary = binary;
    }

    static String unavailable() {
        return Tools.onPath("gcc") ? null : "gcc not installed (the C floor is compiled at run time)";
    }

    static CFloor compile(Path dir) throws IOException {
        Path src = dir.resolve("kvm-floor.c");
        try (InputStream in = CFloor.class.getResourceAsStream("kvm-floor.c")) {
            if (in == null) {
                throw new IOException("resource kvm-floor.c missing from the jar");
            }
            Files.write(src, in.readAllBytes());
        }
        Tools.run(dir, List.of("gcc", "-O2", "-o", "kvm-floor", "kvm-floor.c"), 120);
        return new CFloor(dir.resolve("kvm-floor"));
    }

    Run run(Path image) throws IOException {
        return parse(Tools.run(binary.getParent(), List.of(binary.toString(), image.toString()), 600));
    }

    /** Parses {@code exits=N ns=T}. */
    static Run parse(String output) throws IOException {
        Matcher m = OUTPUT.matcher(output);
        if (!m.find()) {
            throw new IOException("unexpected output from the C floor: " + output.strip());
        }
        return new Run(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)));
    }
}
