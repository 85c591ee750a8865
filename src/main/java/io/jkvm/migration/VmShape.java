package io.jkvm.migration;

import io.jkvm.config.DeviceConfig;
import io.jkvm.config.VmConfig;
import io.jkvm.net.MacAddress;
import io.jkvm.storage.DiskConfig;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What the guest sees of a VM's devices, and nothing of the host: disks in PCI slot order with
 * their id (the virtio-blk serial), read-only flag and size, network interfaces in slot order
 * with their MAC, and whether there is a virtio-rng and a virtio console. The source announces it
 * in its CONFIG record so the destination can compare it with the devices its own operator
 * configured, and refuse a mismatch naming it, before any memory is sent. Host paths and TAP
 * names are deliberately absent: the destination decides its own host resources.
 *
 * <pre>
 * u8 version (1), u8 disks, per disk {u8 id length (0 = none), id (ASCII), u8 read-only, u64 size},
 * u8 nics, per nic {6 bytes MAC}, u8 rng, u8 virtio console          (big-endian)
 * </pre>
 */
public record VmShape(List<Disk> disks, List<Nic> nics, boolean rng, boolean virtioConsole) {
    static final int VERSION = 1;
    /** PCI slots bound the device count; ids are at most {@link DiskConfig#MAX_ID} bytes. */
    static final int MAX_DEVICES = 31;
    static final int MAX_BYTES = 1 + 1 + MAX_DEVICES * (1 + DiskConfig.MAX_ID + 1 + 8) + 1 + MAX_DEVICES * 6 + 2;

    /** One disk; {@code id} may be null (a disk given without one). */
    public record Disk(String id, boolean readOnly, long sizeBytes) {
        public Disk {
            if (sizeBytes < 0) {
                throw new IllegalArgumentException("disk size " + sizeBytes + " is negative");
            }
            if (id != null) {
                new DiskConfig(java.nio.file.Path.of("/"), readOnly, id); // the same rules as --disk id
            }
        }
    }

    public record Nic(MacAddress mac) {}

    public VmShape {
        disks = List.copyOf(disks);
        nics = List.copyOf(nics);
        if (disks.size() + nics.size() > MAX_DEVICES) {
            throw new IllegalArgumentException(disks.size() + " disks and " + nics.size()
                    + " network interfaces are more devices than a PCI bus has slots (" + MAX_DEVICES + ")");
        }
    }

    /** The shape of {@code config}'s devices; disk sizes are read from the images (the source's own). */
    public static VmShape of(VmConfig config) throws IOException {
        return of(config.devices());
    }

    /** The shape of {@code d}, with disk sizes from their images. */
    public static VmShape of(DeviceConfig d) throws IOException {
        if (d.vsock() != null) {
            // The shape has no field for it, and host connections cannot follow the VM (Firecracker has no live migration).
            throw new MigrationException("live migration of a VM with a vsock device is not supported");
        }
        List<Disk> disks = new ArrayList<>();
        for (DiskConfig disk : d.disks()) {
            disks.add(new Disk(disk.id(), disk.readOnly(), io.jkvm.storage.ImageInfo.virtualSize(disk.path(), disk.format())));
        }
        List<Nic> nics = d.nets().stream().map(n -> new Nic(n.mac())).toList();
        return new VmShape(disks, nics, d.rng(), d.virtioConsole());
    }

    byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(MAX_BYTES).put((byte) VERSION).put((byte) disks.size());
        for (Disk d : disks) {
            byte[] id = d.id() == null ? new byte[0] : d.id().getBytes(StandardCharsets.US_ASCII);
            b.put((byte) id.length).put(id).put((byte) (d.readOnly() ? 1 : 0)).putLong(d.sizeBytes());
        }
        b.put((byte) nics.size());
        for (Nic n : nics) {
            b.put(n.mac().bytes());
        }
        b.put((byte) (rng ? 1 : 0)).put((byte) (virtioConsole ? 1 : 0));
        return java.util.Arrays.copyOf(b.array(), b.position());
    }

    /** Decodes untrusted bytes; every problem is a MigrationException naming the field. */
    static VmShape decode(ByteBuffer b) {
        try {
            int version = u8(b, "version");
            if (version != VERSION) {
                throw bad("version " + version + " is not supported (this jkvm reads version " + VERSION + ")");
            }
            int nd = u8(b, "disk count");
            if (nd > MAX_DEVICES) {
                throw bad("disk count " + nd + " exceeds " + MAX_DEVICES);
            }
            List<Disk> disks = new ArrayList<>();
            for (int i = 0; i < nd; i++) {
                int n = u8(b, "disk id length");
                if (n > DiskConfig.MAX_ID || n > b.remaining()) {
                    throw bad("disk " + (i + 1) + " id length " + n + " exceeds " + DiskConfig.MAX_ID);
                }
                byte[] id = new byte[n];
                b.get(id);
                boolean ro = flag(b, "disk read-only flag");
                long size = b.getLong();
                disks.add(new Disk(n == 0 ? null : new String(id, StandardCharsets.US_ASCII), ro, size));
            }
            int nn = u8(b, "network interface count");
            if (nn > MAX_DEVICES) {
                throw bad("network interface count " + nn + " exceeds " + MAX_DEVICES);
            }
            List<Nic> nics = new ArrayList<>();
            for (int i = 0; i < nn; i++) {
                byte[] mac = new byte[6];
                b.get(mac);
                nics.add(new Nic(new MacAddress(mac)));
            }
            boolean rng = flag(b, "rng flag");
            boolean console = flag(b, "virtio console flag");
            if (b.hasRemaining()) {
                throw bad(b.remaining() + " bytes after the last field");
            }
            return new VmShape(disks, nics, rng, console);
        } catch (java.nio.BufferUnderflowException e) {
            throw bad("ends inside a field");
        } catch (IllegalArgumentException | io.jkvm.config.ConfigException e) {
            throw bad(e.getMessage());
        }
    }

    private static int u8(ByteBuffer b, String what) {
        return Byte.toUnsignedInt(b.get());
    }

    private static boolean flag(ByteBuffer b, String what) {
        int v = Byte.toUnsignedInt(b.get());
        if (v > 1) {
            throw bad(what + " is " + v + ", must be 0 or 1");
        }
        return v == 1;
    }

    private static MigrationException bad(String why) {
        return new MigrationException("CONFIG record: device shape: " + Wire.printable(why)); // may quote the peer's ids
    }
}
