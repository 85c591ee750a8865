package io.jkvm.lab;

import io.jkvm.image.Busybox;
import io.jkvm.image.DefaultImage;
import io.jkvm.image.JkvmHome;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Which Debian packages the lab is missing on this host, and installing them via bin/setup-host. */
public final class HostSetup {
    private HostSetup() {}

    /** Debian packages to install before the lab can run (empty when ready). */
    public static List<String> missingPackages() {
        List<String> need = new ArrayList<>();
        if (onPath(L1CommandLine.QEMU) == null) {
            need.add("qemu-system-x86");
        }
        if (DefaultImage.defaultKernel().isEmpty()) {
            need.add("linux-image-amd64");
        }
        if (Busybox.problem(Busybox.DEFAULT).isPresent()) {
            need.add("busybox-static");
        }
        return need;
    }

    /**
     * Runs {@code bin/setup-host} when root (it installs the packages), then checks again.
     * @return the packages still missing
     */
    public static List<String> installIfPossible() throws IOException {
        List<String> need = missingPackages();
        Path script = JkvmHome.get().resolve("bin/setup-host");
        if (need.isEmpty() || !isRoot() || !Files.isExecutable(script)) {
            return need;
        }
        try {
            // Its output goes to our stderr: stdout may be the lab command's data.
            new ProcessBuilder(script.toString())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(new File("/dev/stderr")))
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start().waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while installing " + String.join(" ", need), e);
        }
        return missingPackages();
    }

    static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }

    static Path onPath(String program) {
        String path = System.getenv("PATH");
        for (String d : (path == null ? "/usr/bin:/bin" : path).split(":")) {
            Path p = Path.of(d.isEmpty() ? "." : d, program);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
