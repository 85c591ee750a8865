package io.jkvm.image;

import java.nio.file.Path;

/** Where the project lives: {@code jkvm.home} property, then {@code JKVM_HOME}, then the working directory. */
public final class JkvmHome {
    private JkvmHome() {}

    public static Path get() {
        String p = System.getProperty("jkvm.home");
        if (p == null || p.isBlank()) {
            p = System.getenv("JKVM_HOME");
        }
        if (p == null || p.isBlank()) {
            p = System.getProperty("user.dir");
        }
        return Path.of(p).toAbsolutePath().normalize();
    }

    /** {@code <home>/build}: generated images and caches (git-ignored). */
    public static Path buildDir() {
        return get().resolve("build");
    }
}
