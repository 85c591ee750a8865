package io.jkvm.device.display;

import io.jkvm.device.Bus;
import io.jkvm.device.BusDevice;
import io.jkvm.device.RateLimitedLog;
import io.jkvm.device.pci.BarRemapListener;
import io.jkvm.device.pci.PciBar;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.pci.PciDevice;
import io.jkvm.device.pci.PciId;
import io.jkvm.snapshot.Persist;
import io.jkvm.snapshot.RecordCodec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Objects;

/**
 * A bochs-display PCI function: a linear framebuffer and the Bochs VBE registers, which the
 * stock Linux {@code bochs} DRM driver (drivers/gpu/drm/tiny/bochs.c) drives with no setup, and
 * whose fbdev emulation gives the guest a framebuffer console.
 *
 * <p><b>Identity</b>: vendor 0x1234, device 0x1111 (the Bochs/QEMU VGA ID the driver binds),
 * revision 2 (the driver looks for the QEMU extended registers from revision 2 on), class
 * 0x038000 (display controller, other: not a VGA, so no legacy VGA ranges), subsystem
 * 0x1AF4:0x1100 (Red Hat/QEMU). No interrupt.
 *
 * <p><b>BAR 0</b>: prefetchable 32-bit memory, the VRAM ({@link Vram}; a power of two, at least
 * the 4 MiB the driver requires). It is a KVM memory slot ({@link VramMapping}) wherever the guest
 * programs it, so pixel stores never exit to the VMM. <b>BAR 2</b>: 4 KiB of MMIO registers
 * ({@link #MMIO_SIZE}):
 * <ul>
 *   <li>0x000-0x3ff: the EDID ({@link Edid}), read-only, zero after its 128 bytes;
 *   <li>0x400-0x41f: the VGA ports 0x3c0-0x3df the driver touches to unblank: accepted, read 0;
 *   <li>0x500-0x515: DISPI register {@code i} as a 16-bit register at 0x500 + 2i ({@link DispiRegisters});
 *   <li>0x600: the size of the QEMU extended register block (8); 0x604: framebuffer byte order.
 * </ul>
 * Other offsets and sizes read all ones and drop writes (logged, rate limited).
 */
public final class BochsDisplay implements PciDevice, ScanoutSource, Persist<BochsDisplay.State>, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BochsDisplay.class);

    public static final int VENDOR_ID = 0x1234;
    public static final int DEVICE_ID = 0x1111;
    public static final int REVISION = 2;
    public static final int CLASS_DISPLAY_OTHER = 0x03_80_00;
    public static final int SUBSYSTEM_VENDOR_ID = 0x1af4;
    public static final int SUBSYSTEM_ID = 0x1100;
    public static final PciId ID = new PciId(VENDOR_ID, DEVICE_ID, CLASS_DISPLAY_OTHER, REVISION, SUBSYSTEM_VENDOR_ID, SUBSYSTEM_ID);

    public static final int VRAM_BAR = 0;
    public static final int MMIO_BAR = 2;
    public static final long MMIO_SIZE = 4096;
    /** The bochs driver refuses a framebuffer BAR below 4 MiB. */
    public static final long MIN_VRAM = 4L << 20;
    /** VIDEO_MEMORY_64K is a 16-bit count of 64 KiB units, and BAR 0 is 32-bit: at most 2 GiB, keep it sane. */
    public static final long MAX_VRAM = 1L << 30;

    static final int EDID_END = 0x400;
    static final int VGA_START = 0x400;
    static final int VGA_END = 0x420;
    static final int DISPI_START = 0x500;
    static final int DISPI_END = DISPI_START + 2 * DispiRegisters.COUNT;
    static final int QEXT_SIZE = 0x600;
    static final int QEXT_ENDIANNESS = 0x604;
    static final int QEXT_LENGTH = 8;

    private final Vram vram;
    private final VramMapping mapping;
    private final Bus mmio;
    private final byte[] edid;
    private final PciConfigSpace config = new PciConfigSpace(ID);
    private final DispiRegisters regs;
    private final Registers registerFile = new Registers();
    private final RateLimitedLog badAccess = new RateLimitedLog(LOG);
    /** The guest chooses BAR addresses, so refused mappings are logged at a bounded rate. */
    private final RateLimitedLog badMapping = new RateLimitedLog(LOG);
    // Guarded by the config space lock (the remap listener runs under it).
    private Bus.Registration mmioRegistration;
    private volatile BarRemapListener extraListener = BarRemapListener.NONE;

    /**
     * @param vram the VRAM (size a power of two, {@link #MIN_VRAM}..{@link #MAX_VRAM})
     * @param mapping puts the VRAM where the guest programs BAR 0
     * @param mmio the bus BAR 2's registers go on
     * @param edid the 128-byte EDID the guest reads
     */
    public BochsDisplay(Vram vram, VramMapping mapping, Bus mmio, byte[] edid) {
        this(vram, mapping, mmio, edid, new DispiRegisters(vram.size()));
    }

    private BochsDisplay(Vram vram, VramMapping mapping, Bus mmio, byte[] edid, DispiRegisters regs) {
        this.vram = Objects.requireNonNull(vram, "vram");
        this.mapping = Objects.requireNonNull(mapping, "mapping");
        this.mmio = Objects.requireNonNull(mmio, "mmio");
        long size = vram.size();
        if (Long.bitCount(size) != 1 || size < MIN_VRAM || size > MAX_VRAM) {
            throw new IllegalArgumentException("display VRAM must be a power of two from 4 MiB to 1 GiB, not " + size + " bytes");
        }
        if (edid.length != Edid.LENGTH) {
            throw new IllegalArgumentException("EDID must be " + Edid.LENGTH + " bytes");
        }
        this.edid = edid.clone();
        this.regs = regs;
        config.addBar(PciBar.memory32(VRAM_BAR, size, true));
        config.addBar(PciBar.memory32(MMIO_BAR, MMIO_SIZE, false));
        config.setBarRemapListener(this::onBarRemap);
    }

    @Override
    public PciConfigSpace config() {
        return config;
    }

    public DispiRegisters registers() {
        return regs;
    }

    public Vram vram() {
        return vram;
    }

    /** BAR 2's register file (tests, and VMMs that map it themselves). */
    public BusDevice mmioRegisters() {
        return registerFile;
    }

    @Override
    public Scanout scanout() {
        return regs.scanout();
    }

    @Override
    public boolean collectDirty(long[] bitmap) {
        return mapping.collectDirty(bitmap);
    }

    @Override
    public void setBarRemapListener(BarRemapListener listener) {
        extraListener = listener == null ? BarRemapListener.NONE : listener;
    }

    /** Runs under the config space lock on the vCPU doing the config write (or a reset/restore). */
    private void onBarRemap(PciBar bar, long oldAddress, long newAddress) {
        if (bar.index() == VRAM_BAR) {
            mapping.unmap();
            if (newAddress != PciBar.UNMAPPED) {
                try {
                    mapping.map(newAddress);
                } catch (RuntimeException e) {
                    if (badMapping.acquire() >= 0) {
                        LOG.warn("display: cannot map VRAM at 0x{}: {}; left unmapped", Long.toHexString(newAddress), e.getMessage());
                    }
                }
            }
        } else if (bar.index() == MMIO_BAR) {
            if (mmioRegistration != null) {
                mmioRegistration.unregister();
                mmioRegistration = null;
            }
            if (newAddress != PciBar.UNMAPPED) {
                try {
                    mmioRegistration = mmio.register(newAddress, MMIO_SIZE, registerFile);
                } catch (IllegalArgumentException e) {
                    if (badMapping.acquire() >= 0) {
                        LOG.warn("display: cannot map registers at 0x{}: {}; left unmapped", Long.toHexString(newAddress), e.getMessage());
                    }
                }
            }
        }
        try {
            extraListener.onBarRemap(bar, oldAddress, newAddress);
        } catch (RuntimeException e) {
            LOG.warn("display: BAR remap listener failed: {}", e.toString());
        }
    }

    /** Platform reset: config space (withdrawing both BARs) and the registers. VRAM keeps its contents, as hardware's does. */
    @Override
    public void reset() {
        config.reset();
        regs.reset();
    }

    /** Withdraws the mappings and releases the slot; the VRAM belongs to the caller. */
    @Override
    public void close() {
        synchronized (config) {
            if (mmioRegistration != null) {
                mmioRegistration.unregister();
                mmioRegistration = null;
            }
        }
        mapping.close();
    }

    // ---------------------------------------------------------------- BAR 2

    private final class Registers implements BusDevice {
        @Override
        public long read(long offset, int size) {
            if (offset >= 0 && offset < EDID_END && offset + size <= EDID_END) {
                long v = 0;
                for (int i = size - 1; i >= 0; i--) {
                    int at = (int) offset + i;
                    v = (v << 8) | (at < edid.length ? edid[at] & 0xff : 0);
                }
                return v;
            }
            if (offset >= VGA_START && offset + size <= VGA_END) {
                return 0;
            }
            if (offset >= DISPI_START && offset < DISPI_END && size == 2 && offset % 2 == 0) {
                return regs.read((int) (offset - DISPI_START) / 2);
            }
            if (offset == QEXT_SIZE && size == 4) {
                return QEXT_LENGTH;
            }
            if (offset == QEXT_ENDIANNESS && size == 4) {
                return regs.endianness() & 0xffff_ffffL;
            }
            badAccess.debug("display: read of {} bytes at register offset 0x{}", size, Long.toHexString(offset));
            return Bus.sizeMask(size);
        }

        @Override
        public void write(long offset, int size, long value) {
            if (offset >= VGA_START && offset + size <= VGA_END) {
                return;
            }
            if (offset >= DISPI_START && offset < DISPI_END && size == 2 && offset % 2 == 0) {
                regs.write((int) (offset - DISPI_START) / 2, (int) value);
                return;
            }
            if (offset == QEXT_ENDIANNESS && size == 4) {
                regs.setEndianness((int) value);
                return;
            }
            badAccess.debug("display: write of {} bytes at register offset 0x{} dropped", size, Long.toHexString(offset));
        }
    }

    // ---------------------------------------------------------------- snapshot

    /**
     * The guest-visible state: PCI config space (BAR addresses, command register) and the
     * registers. VRAM contents are not part of it (see {@link io.jkvm.vmm.LinuxVm}: a VM with a
     * display refuses snapshots and migration).
     */
    public record State(byte[] pciConfig, DispiRegisters.State registers) {
        public static final RecordCodec<State> CODEC = RecordCodec.of("bochs_display", State.class,
                (s, w) -> {
                    w.blob(s.pciConfig);
                    int[] r = s.registers.registers();
                    for (int v : r) {
                        w.u16(v);
                    }
                    w.i32(s.registers.endianness());
                },
                r -> {
                    byte[] cfg = r.blob("PCI config space", PciConfigSpace.SIZE);
                    int[] v = new int[DispiRegisters.COUNT];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = r.u16("dispi register " + i);
                    }
                    int order = r.i32("framebuffer byte order");
                    try {
                        return new State(cfg, new DispiRegisters.State(v, order));
                    } catch (IllegalArgumentException e) {
                        throw r.fail(e.getMessage());
                    }
                });

        public State {
            Objects.requireNonNull(registers, "registers");
            if (pciConfig.length != PciConfigSpace.SIZE) {
                throw new IllegalArgumentException("PCI config space is " + pciConfig.length + " bytes");
            }
            pciConfig = pciConfig.clone();
        }

        @Override
        public byte[] pciConfig() {
            return pciConfig.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && java.util.Arrays.equals(pciConfig, s.pciConfig) && registers.equals(s.registers);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(pciConfig) * 31 + registers.hashCode();
        }
    }

    @Override
    public State save() {
        return new State(config.bytes(), regs.save());
    }

    /**
     * A display built from host resources and given {@code s}: registers, then config space (which
     * re-establishes the BAR mappings). A config space of another device is refused
     * (IllegalArgumentException).
     */
    public static BochsDisplay restore(Vram vram, VramMapping mapping, Bus mmio, byte[] edid, State s) {
        BochsDisplay d = new BochsDisplay(vram, mapping, mmio, edid, DispiRegisters.restore(vram.size(), s.registers()));
        d.config.restoreBytes(s.pciConfig());
        return d;
    }
}
