package io.jkvm.image;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * The modules of one installed kernel ({@code /lib/modules/<release>}): resolves module names to
 * files with their dependencies from {@code modules.dep}, and reads them decompressed, because
 * busybox {@code insmod} cannot load {@code .ko.xz} or {@code .ko.zst}.
 */
public final class KernelModules {
    /** Result of resolving names: files to load in order, names built into the kernel, names not found. */
    public record Resolution(List<String> files, List<String> builtin, List<String> missing) {}

    private final Path dir;
    private final Map<String, String> fileByName = new HashMap<>();
    private final Map<String, List<String>> depsByFile = new HashMap<>();
    private final Set<String> builtin = new HashSet<>();

    private KernelModules(Path dir) {
        this.dir = dir;
    }

    /** {@code /lib/modules/<release>}. */
    public static Path directoryFor(String release) {
        return Path.of("/lib/modules", release);
    }

    public static KernelModules load(Path modulesDir) throws IOException {
        Path dep = modulesDir.resolve("modules.dep");
        if (!Files.isRegularFile(dep)) {
            throw new IOException("no modules.dep in " + modulesDir + " (is the kernel's module package installed?)");
        }
        KernelModules km = new KernelModules(modulesDir);
        for (String line : Files.readAllLines(dep)) {
            int colon = line.indexOf(':');
            if (colon <= 0) {
                continue;
            }
            String file = line.substring(0, colon).trim();
            String rest = line.substring(colon + 1).trim();
            km.fileByName.put(moduleName(file), file);
            km.depsByFile.put(file, rest.isEmpty() ? List.of() : List.of(rest.split("\\s+")));
        }
        Path builtinList = modulesDir.resolve("modules.builtin");
        if (Files.isRegularFile(builtinList)) {
            for (String line : Files.readAllLines(builtinList)) {
                if (!line.isBlank()) {
                    km.builtin.add(moduleName(line.trim()));
                }
            }
        }
        return km;
    }

    public Path directory() {
        return dir;
    }

    /** "kernel/drivers/char/hw_random/virtio-rng.ko.xz" -> "virtio_rng" (modprobe treats - and _ alike). */
    public static String moduleName(String file) {
        String base = file.substring(file.lastIndexOf('/') + 1);
        for (String ext : List.of(".xz", ".zst", ".gz")) {
            if (base.endsWith(ext)) {
                base = base.substring(0, base.length() - ext.length());
            }
        }
        if (base.endsWith(".ko")) {
            base = base.substring(0, base.length() - 3);
        }
        return base.replace('-', '_');
    }

    /**
     * Module files (paths relative to the modules directory) for {@code names} and everything they
     * depend on, each dependency before its users. Built-in and unknown names are reported, not fatal:
     * kernel configurations differ and the guest loads what exists.
     */
    public Resolution resolve(List<String> names) {
        LinkedHashSet<String> ordered = new LinkedHashSet<>();
        List<String> inKernel = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (String n : names) {
            String name = moduleName(n);
            String file = fileByName.get(name);
            if (file != null) {
                addWithDeps(file, ordered, new HashSet<>());
            } else if (builtin.contains(name)) {
                inKernel.add(name);
            } else {
                missing.add(name);
            }
        }
        return new Resolution(List.copyOf(ordered), List.copyOf(inKernel), List.copyOf(missing));
    }

    private void addWithDeps(String file, LinkedHashSet<String> ordered, Set<String> visiting) {
        if (ordered.contains(file) || !visiting.add(file)) {
            return;
        }
        // modules.dep lists the full transitive closure, but not in load order: recurse to order it.
        for (String dep : depsByFile.getOrDefault(file, List.of())) {
            addWithDeps(dep, ordered, visiting);
        }
        ordered.add(file);
    }

    /** The file name a module gets in an image: compression suffix removed. */
    public static String uncompressedName(String file) {
        for (String ext : List.of(".xz", ".zst", ".gz")) {
            if (file.endsWith(ext)) {
                return file.substring(0, file.length() - ext.length());
            }
        }
        return file;
    }

    /** The module's bytes, decompressed ({@code xz}/{@code zstd} through their command-line tools). */
    public byte[] readUncompressed(String file) throws IOException {
        Path p = dir.resolve(file);
        if (file.endsWith(".gz")) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(p))) {
                return in.readAllBytes();
            }
        }
        if (file.endsWith(".xz")) {
            return decompressWith(List.of("xz", "-dc", p.toString()), p);
        }
        if (file.endsWith(".zst")) {
            return decompressWith(List.of("zstd", "-dcq", p.toString()), p);
        }
        return Files.readAllBytes(p);
    }

    private static byte[] decompressWith(List<String> command, Path p) throws IOException {
        Process proc;
        try {
            proc = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new IOException("cannot run " + command.getFirst() + " to decompress " + p + ": " + e.getMessage(), e);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream in = proc.getInputStream()) {
            in.transferTo(out);
        }
        try {
            if (proc.waitFor() != 0) {
                throw new IOException(command.getFirst() + " failed to decompress " + p);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while decompressing " + p, e);
        }
        return out.toByteArray();
    }
}
