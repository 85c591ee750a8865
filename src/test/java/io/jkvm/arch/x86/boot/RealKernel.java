package io.jkvm.arch.x86.boot;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/** Locates the host's Debian kernel (/boot/vmlinuz-6.1.0-*-amd64) and initrd, skipping visibly if absent. */
public final class RealKernel {
    private RealKernel() {}

    public static Path vmlinuz() throws IOException {
        Optional<Path> p = find("vmlinuz-6.1.0-", "-amd64");
        Assumptions.assumeTrue(p.isPresent(), "no readable /boot/vmlinuz-6.1.0-*-amd64 on this host: real-kernel test skipped");
        return p.get();
    }

    public static Path initrd() throws IOException {
        Optional<Path> p = find("initrd.img-6.1.0-", "-amd64");
        Assumptions.assumeTrue(p.isPresent(), "no readable /boot/initrd.img-6.1.0-*-amd64 on this host: test skipped");
        return p.get();
    }

    private static Optional<Path> find(String prefix, String suffix) throws IOException {
        Path boot = Path.of("/boot");
        if (!Files.isDirectory(boot)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(boot)) {
            return s.filter(p -> p.getFileName().toString().startsWith(prefix)
                            && p.getFileName().toString().endsWith(suffix) && Files.isReadable(p))
                    .sorted()
                    .findFirst();
        }
    }
}
