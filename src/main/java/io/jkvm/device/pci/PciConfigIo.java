package io.jkvm.device.pci;

import io.jkvm.device.Bus;
import io.jkvm.device.BusDevice;
import io.jkvm.snapshot.Persist;
import io.jkvm.snapshot.RecordCodec;
import java.util.Objects;

/**
 * PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, §3.2.2.3.2): register at
 * {@code Layout.PCI_CONFIG_PORT} (0xCF8) with length {@link #LENGTH}.
 *
 * <ul>
 *   <li>Offset 0, 32-bit only: CONFIG_ADDRESS. Bit 31 enable, 23:16 bus, 15:11 device,
 *       10:8 function, 7:2 register; bits 30:24 and 1:0 are reserved and read 0. The spec routes
 *       narrower accesses to 0xCF8..0xCFB as ordinary I/O; nothing answers there, so they read
 *       all ones and writes are dropped.
 *   <li>Offsets 4..7: CONFIG_DATA, 1, 2 or 4 bytes at byte lane {@code offset - 4}, which must
 *       not run past 0xCFF.
 * </ul>
 *
 * <p>With the enable bit clear, a non-zero bus (we only have bus 0) or an absent function,
 * data reads return all ones and writes are dropped. Accesses are serialised: CONFIG_ADDRESS is
 * one register shared by all vCPUs, just as on hardware (Linux takes {@code pci_config_lock}).
 */
public final class PciConfigIo implements BusDevice, Persist<PciConfigIo.State> {
    /**
     * The PCI host side: configuration mechanism #1's CONFIG_ADDRESS latch (port 0xCF8, PCI 3.0
     * §3.2.2.3.2) and the host bridge's 256-byte configuration space, checked against the
     * bridge's read-only bits on restore ({@link PciConfigSpace#restoreBytes}).
     */
    public record State(int configAddress, byte[] hostBridgeConfig) {
        /** i32 CONFIG_ADDRESS, then the bridge's config space (u32 length, exactly 256 bytes). */
        public static final RecordCodec<State> CODEC = RecordCodec.of("pci_host", State.class,
                (s, w) -> w.i32(s.configAddress).blob(s.hostBridgeConfig),
                r -> new State(r.i32("CONFIG_ADDRESS"), r.blob("host bridge config space", PciConfigSpace.SIZE)));

        public State {
            if (hostBridgeConfig.length != PciConfigSpace.SIZE) {
                throw new IllegalArgumentException("host bridge config space is " + hostBridgeConfig.length + " bytes, not "
                        + PciConfigSpace.SIZE);
            }
            hostBridgeConfig = hostBridgeConfig.clone();
        }

        @Override
        public byte[] hostBridgeConfig() {
            return hostBridgeConfig.clone();
        }
    }

    public static final int LENGTH = 8;
    public static final int ENABLE = 0x8000_0000;
    private static final int ADDRESS_MASK = 0x80ff_fffc;

    private final PciRoot root;
    private int address;

    public PciConfigIo(PciRoot root) {
        this.root = Objects.requireNonNull(root, "root");
    }

    @Override
    public synchronized long read(long offset, int size) {
        if (offset == 0 && size == 4) {
            return address & 0xffff_ffffL;
        }
        int lane = dataLane(offset, size);
        if (lane < 0 || (address & ENABLE) == 0) {
            return Bus.sizeMask(size);
        }
        int dword = root.readConfig(bus(), device(), function(), register());
        return (dword >>> (8 * lane)) & Bus.sizeMask(size);
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        if (offset == 0 && size == 4) {
            address = (int) value & ADDRESS_MASK;
            return;
        }
        int lane = dataLane(offset, size);
        if (lane < 0 || (address & ENABLE) == 0) {
            return;
        }
        root.writeConfig(bus(), device(), function(), register(), lane, size, (int) value);
    }

    /** The latch and the host bridge (device 00:00.0) of {@code root}. */
    @Override
    public synchronized State save() {
        return new State(address, hostBridge(root).bytes());
    }

    /**
     * Config-space access to {@code root} restored from a {@link #save()}: the host bridge's
     * config space (refused with IllegalArgumentException if it breaks a read-only bit) and the latch.
     */
    public static PciConfigIo restore(PciRoot root, State s) {
        hostBridge(root).restoreBytes(s.hostBridgeConfig());
        PciConfigIo io = new PciConfigIo(root);
        io.address = s.configAddress() & ADDRESS_MASK;
        return io;
    }

    private static PciConfigSpace hostBridge(PciRoot root) {
        return root.device(0, 0, 0).orElseThrow(() -> new IllegalStateException("PCI root without a host bridge")).config();
    }

    /** Current CONFIG_ADDRESS value. */
    public synchronized int address() {
        return address;
    }

    /** Byte lane of a valid CONFIG_DATA access, or -1. */
    private static int dataLane(long offset, int size) {
        if (offset < 4 || offset > 7 || !(size == 1 || size == 2 || size == 4)) {
            return -1;
        }
        int lane = (int) offset - 4;
        return lane + size <= 4 ? lane : -1;
    }

    private int bus() {
        return (address >>> 16) & 0xff;
    }

    private int device() {
        return (address >>> 11) & 0x1f;
    }

    private int function() {
        return (address >>> 8) & 0x7;
    }

    private int register() {
        return (address >>> 2) & 0x3f;
    }
}
