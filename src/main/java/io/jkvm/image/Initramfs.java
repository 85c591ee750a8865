package io.jkvm.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A busybox initramfs recipe: static busybox, chosen kernel modules (decompressed, with a
 * {@code modules.dep} for them and a load-order list), an {@code /init} script and extra files.
 *
 * <p>Written to a gzip'd newc cpio. {@link #ensure} rebuilds only when the output is missing or
 * its recorded fingerprint (the recipe plus size and mtime of every input file) changed, which
 * covers both "older than its inputs" and "the recipe in this program changed".
 *
 * <p>Layout in the image: {@code /bin/busybox} with {@code /bin/sh} linking to it (the init
 * script installs the other applets), {@code /lib/modules/<release>/<path>.ko} and
 * {@code /lib/modules/<release>/jkvm.load} (one module path per line, dependencies first),
 * {@code /dev/console} and {@code /dev/null} nodes for the kernel's first open of the console.
 */
public final class Initramfs {
    /** Path of the load-order list inside the image, relative to /lib/modules/&lt;release&gt;. */
    public static final String LOAD_LIST = "jkvm.load";

    private final Path busybox;
    private final KernelModules modules;
    private final String release;
    private final List<String> moduleNames = new ArrayList<>();
    private final Map<String, byte[]> extraFiles = new LinkedHashMap<>();
    private String init = "#!/bin/sh\nexec sh\n";

    public Initramfs(Path busybox, KernelModules modules, String release) {
        this.busybox = busybox;
        this.modules = modules;
        this.release = release;
    }

    public Initramfs modules(List<String> names) {
        moduleNames.addAll(names);
        return this;
    }

    public Initramfs init(String script) {
        this.init = script;
        return this;
    }

    /** An extra executable or data file (mode 0755). */
    public Initramfs file(String path, String content) {
        extraFiles.put(path, content.getBytes(StandardCharsets.UTF_8));
        return this;
    }

    public KernelModules.Resolution resolution() {
        return modules.resolve(moduleNames);
    }

    /** Builds {@code output} unless an up-to-date one exists; returns {@code output}. */
    public Path ensure(Path output) throws IOException {
        String fp = fingerprint();
        Path stamp = output.resolveSibling(output.getFileName() + ".inputs");
        if (Files.isRegularFile(output) && Files.isRegularFile(stamp)
                && Files.readString(stamp).equals(fp)) {
            return output;
        }
        write(output);
        Files.writeString(stamp, fp);
        return output;
    }

    /** Writes the archive to {@code output} atomically (temp file, then rename). */
    public void write(Path output) throws IOException {
        Path parent = output.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempFile(parent, output.getFileName().toString(), ".tmp");
        try {
            try (CpioWriter w = CpioWriter.gzipped(tmp)) {
                writeTo(w);
            }
            // createTempFile made it 0600; images are read by QEMU runs of other users too.
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    void writeTo(CpioWriter w) throws IOException {
        for (String d : List.of("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/etc", "/proc", "/sys",
                "/dev", "/run", "/tmp", "/mnt", "/root")) {
            w.directory(d, d.equals("/tmp") ? 01777 : 0755);
        }
        w.charDevice("/dev/console", 0600, 5, 1);
        w.charDevice("/dev/null", 0666, 1, 3);
        w.file("/bin/busybox", busybox, 0755);
        w.symlink("/bin/sh", "busybox");
        String base = "/lib/modules/" + release + "/";
        StringBuilder dep = new StringBuilder();
        StringBuilder order = new StringBuilder();
        List<String> files = resolution().files();
        for (String f : files) {
            String name = KernelModules.uncompressedName(f);
            w.file(base + name, modules.readUncompressed(f), 0644);
            order.append(name).append('\n');
            dep.append(name).append(':').append('\n');
        }
        w.directory(base, 0755);
        // One line per module without dependencies: jkvm.load already gives the order, and this
        // lets busybox modprobe find the files by name.
        w.file(base + "modules.dep", dep.toString().getBytes(StandardCharsets.UTF_8), 0644);
        w.file(base + LOAD_LIST, order.toString().getBytes(StandardCharsets.UTF_8), 0644);
        for (Map.Entry<String, byte[]> e : extraFiles.entrySet()) {
            w.file(e.getKey(), e.getValue(), 0755);
        }
        w.file("/init", init.getBytes(StandardCharsets.UTF_8), 0755);
    }

    /** Identifies the recipe and the state of every input file. */
    String fingerprint() throws IOException {
        StringBuilder s = new StringBuilder("initramfs-v1\n");
        s.append(describe(busybox)).append('\n').append(release).append('\n');
        s.append(describe(modules.directory().resolve("modules.dep"))).append('\n');
        for (String f : resolution().files()) {
            s.append(describe(modules.directory().resolve(f))).append('\n');
        }
        s.append(init).append('\n');
        for (Map.Entry<String, byte[]> e : extraFiles.entrySet()) {
            s.append(e.getKey()).append('=').append(new String(e.getValue(), StandardCharsets.UTF_8)).append('\n');
        }
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d) + "\n";
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String describe(Path p) throws IOException {
        return p + " " + Files.size(p) + " " + Files.getLastModifiedTime(p).toMillis();
    }
}
