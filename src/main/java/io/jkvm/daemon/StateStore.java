package io.jkvm.daemon;

import io.jkvm.api.Json;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The daemon's state directory (mode 0700):
 * <pre>
 *   vms/NAME/vm.json        definition
 *   vms/NAME/runtime.json   VMM pid and state (see {@link VmRuntime})
 *   vms/NAME/api.sock       the VMM's API socket, console.sock its serial console, vnc.sock its display (RFB)
 *   vms/NAME/serial.log     guest serial output, vmm.log the VMM's event log (JSON lines)
 * </pre>
 * Every JSON file is replaced atomically (write a temporary file, fsync, rename over, fsync the
 * directory), so a crash at any moment leaves either the old or the new content, never a torn one.
 */
public final class StateStore {
    private final Path root;

    public StateStore(Path root) throws IOException {
        this.root = root.toAbsolutePath().normalize();
        Files.createDirectories(this.root.resolve("vms"));
        Files.setPosixFilePermissions(this.root, PosixFilePermissions.fromString("rwx------"));
    }

    public Path root() {
        return root;
    }

    public Path vmDir(String name) {
        return root.resolve("vms").resolve(name);
    }

    public Path apiSocket(String name) {
        return vmDir(name).resolve("api.sock");
    }

    public Path consoleSocket(String name) {
        return vmDir(name).resolve("console.sock");
    }

    /** The VMM's display as RFB (VNC) on a Unix socket; absent while the VM has no display. */
    public Path vncSocket(String name) {
        return vmDir(name).resolve("vnc.sock");
    }

    public Path serialLog(String name) {
        return vmDir(name).resolve("serial.log");
    }

    public Path vmmLog(String name) {
        return vmDir(name).resolve("vmm.log");
    }

    public Path metricsFile(String name) {
        return vmDir(name).resolve("metrics.json");
    }

    public List<String> names() throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(root.resolve("vms"))) {
            s.filter(p -> Files.isRegularFile(p.resolve("vm.json"))).forEach(p -> out.add(p.getFileName().toString()));
        }
        out.sort(null);
        return out;
    }

    public void saveDefinition(VmDefinition d) throws IOException {
        Files.createDirectories(vmDir(d.name()));
        writeAtomically(vmDir(d.name()).resolve("vm.json"), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(d));
    }

    public VmDefinition loadDefinition(String name) throws IOException {
        return Json.MAPPER.readValue(vmDir(name).resolve("vm.json").toFile(), VmDefinition.class);
    }

    public void saveRuntime(String name, VmRuntime r) throws IOException {
        writeAtomically(vmDir(name).resolve("runtime.json"), Json.MAPPER.writeValueAsBytes(r));
    }

    public Optional<VmRuntime> loadRuntime(String name) throws IOException {
        Path p = vmDir(name).resolve("runtime.json");
        if (!Files.exists(p)) {
            return Optional.empty();
        }
        return Optional.of(Json.MAPPER.readValue(p.toFile(), VmRuntime.class));
    }

    /** Removes a VM's directory and everything in it. */
    public void delete(String name) throws IOException {
        Path dir = vmDir(name);
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> w = Files.walk(dir)) {
            for (Path p : w.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
        fsyncDirectory(dir.getParent());
    }

    static void writeAtomically(Path target, byte[] content) throws IOException {
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(content);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
        fsyncDirectory(target.getParent());
    }

    private static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // Some filesystems refuse fsync on directories; the rename itself is still atomic.
        }
    }
}
