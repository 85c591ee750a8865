package io.jkvm.device.display;

import io.jkvm.device.RateLimitedLog;
import io.jkvm.display.DisplayMode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;

/**
 * The Bochs VBE "DISPI" register file of a bochs-display device, plus the QEMU extension's
 * framebuffer byte-order register: the guest-visible mode state, and the one place that turns
 * it into a {@link Scanout}.
 *
 * <p>Registers are 16 bits, selected by index (the {@code VBE_DISPI_INDEX_*} numbering of the
 * Bochs VBE extensions, which Linux's bochs DRM driver uses): 0 ID, 1 XRES, 2 YRES, 3 BPP,
 * 4 ENABLE, 5 BANK, 6 VIRT_WIDTH, 7 VIRT_HEIGHT, 8 X_OFFSET, 9 Y_OFFSET, 10 VIDEO_MEMORY_64K.
 * ID reads 0xB0C5 (interface version 5) and VIDEO_MEMORY_64K the VRAM size in 64 KiB units; both
 * ignore writes. The rest store what the guest writes. With the GETCAPS bit of ENABLE set,
 * XRES/YRES/BPP read the largest values accepted instead (how VBE BIOSes probe limits).
 *
 * <p><b>Hostile values.</b> Every register is guest-written and any combination is possible:
 * {@link #scanout} accepts only an enabled 32 bpp mode whose every row lies inside VRAM (with
 * the stride at least a row's width), and reports anything else as {@link Scanout#OFF}. Nothing
 * is ever allocated from a register value. Unsupported depths are logged at most
 * {@link RateLimitedLog#DEFAULT_PERMITS} times a second, and only when the depth changes.
 *
 * <p>Thread-safe: vCPU threads write registers while the display's polling thread reads the
 * scanout.
 */
public final class DispiRegisters {
    private static final Logger LOG = LoggerFactory.getLogger(DispiRegisters.class);

    public static final int INDEX_ID = 0x0;
    public static final int INDEX_XRES = 0x1;
    public static final int INDEX_YRES = 0x2;
    public static final int INDEX_BPP = 0x3;
    public static final int INDEX_ENABLE = 0x4;
    public static final int INDEX_BANK = 0x5;
    public static final int INDEX_VIRT_WIDTH = 0x6;
    public static final int INDEX_VIRT_HEIGHT = 0x7;
    public static final int INDEX_X_OFFSET = 0x8;
    public static final int INDEX_Y_OFFSET = 0x9;
    public static final int INDEX_VIDEO_MEMORY_64K = 0xa;
    public static final int COUNT = 0xb;

    /** VBE_DISPI_ID5: the newest interface version; Linux checks {@code (id & 0xfff0) == 0xB0C0}. */
    public static final int ID5 = 0xb0c5;
    public static final int ENABLED = 0x01;
    public static final int GETCAPS = 0x02;
    public static final int LFB_ENABLED = 0x40;
    public static final int SUPPORTED_BPP = 32;

    /** QEMU extended register 0x604 values: the pattern reads the same in either byte order. */
    public static final int LITTLE_ENDIAN = 0x1e1e1e1e;
    public static final int BIG_ENDIAN = 0xbebebebe;

    private final long vramBytes;
    private final int[] regs = new int[COUNT];
    private int endianness = LITTLE_ENDIAN;
    private int loggedBpp = -1;
    private final RateLimitedLog unsupported = new RateLimitedLog(LOG);

    /** Registers of a device with {@code vramBytes} of VRAM (a multiple of 64 KiB, at most 4 GiB - 64 KiB). */
    public DispiRegisters(long vramBytes) {
        if (vramBytes <= 0 || vramBytes % (64 << 10) != 0 || vramBytes / (64 << 10) > 0xffff) {
            throw new IllegalArgumentException("VRAM of " + vramBytes + " bytes is not 1..65535 units of 64 KiB");
        }
        this.vramBytes = vramBytes;
    }

    public long vramBytes() {
        return vramBytes;
    }

    /** Register {@code index} as the guest reads it; 0 for indices past the last register. */
    public synchronized int read(int index) {
        boolean caps = (regs[INDEX_ENABLE] & GETCAPS) != 0;
        return switch (index) {
            case INDEX_ID -> ID5;
            case INDEX_VIDEO_MEMORY_64K -> (int) (vramBytes >> 16);
            case INDEX_XRES, INDEX_YRES -> caps ? DisplayMode.MAX_EDGE : regs[index];
            case INDEX_BPP -> caps ? SUPPORTED_BPP : regs[index];
            default -> index >= 0 && index < COUNT ? regs[index] : 0;
        };
    }

    /** A guest write of the low 16 bits of {@code value} to register {@code index}; read-only and unknown ones ignore it. */
    public synchronized void write(int index, int value) {
        if (index <= INDEX_ID || index >= INDEX_VIDEO_MEMORY_64K) {
            return;
        }
        regs[index] = value & 0xffff;
    }

    /** Framebuffer byte order (extended register 0x604). */
    public synchronized int endianness() {
        return endianness;
    }

    /** Accepts the two byte-order patterns; any other value is ignored. */
    public synchronized void setEndianness(int value) {
        if (value == LITTLE_ENDIAN || value == BIG_ENDIAN) {
            endianness = value;
        }
    }

    /** Power-on values: everything 0 (display disabled), little endian. */
    public synchronized void reset() {
        Arrays.fill(regs, 0);
        endianness = LITTLE_ENDIAN;
    }

    /**
     * The mode the registers describe if it can be displayed: enabled, 32 bpp, XRES and YRES
     * 1..{@link DisplayMode#MAX_EDGE}, stride {@code max(VIRT_WIDTH, XRES) * 4}, first pixel at
     * {@code Y_OFFSET * stride + X_OFFSET * 4}, and the whole rectangle inside VRAM. Otherwise
     * {@link Scanout#OFF}.
     */
    public Scanout scanout() {
        int[] r;
        int order;
        synchronized (this) {
            r = regs.clone();
            order = endianness;
        }
        if ((r[INDEX_ENABLE] & ENABLED) == 0) {
            return Scanout.OFF;
        }
        if (r[INDEX_BPP] != SUPPORTED_BPP) {
            noteUnsupported(r[INDEX_BPP]);
            return Scanout.OFF;
        }
        int width = r[INDEX_XRES];
        int height = r[INDEX_YRES];
        if (width < 1 || height < 1 || width > DisplayMode.MAX_EDGE || height > DisplayMode.MAX_EDGE) {
            return Scanout.OFF;
        }
        // Linux programs VIRT_WIDTH after XRES; a virtual width below the visible one would make
        // rows overlap, so it counts as the visible width (as in QEMU's model).
        long stride = (long) Math.max(r[INDEX_VIRT_WIDTH], width) * Scanout.BYTES_PER_PIXEL;
        long offset = r[INDEX_Y_OFFSET] * stride + (long) r[INDEX_X_OFFSET] * Scanout.BYTES_PER_PIXEL;
        long end = offset + (height - 1L) * stride + (long) width * Scanout.BYTES_PER_PIXEL;
        if (end > vramBytes) {
            return Scanout.OFF;
        }
        return new Scanout(width, height, offset, stride, order == BIG_ENDIAN);
    }

    private void noteUnsupported(int bpp) {
        synchronized (this) {
            if (bpp == loggedBpp) {
                return;
            }
            loggedBpp = bpp;
        }
        if (unsupported.acquire() >= 0) {
            LOG.info("display: the guest enabled a {} bpp mode; only {} bpp is shown (display off)", bpp, SUPPORTED_BPP);
        }
    }

    /** The guest-written registers (ID and VIDEO_MEMORY_64K are not state) and the byte order. */
    public record State(int[] registers, int endianness) {
        public State {
            if (registers.length != COUNT) {
                throw new IllegalArgumentException("dispi state has " + registers.length + " registers, not " + COUNT);
            }
            for (int v : registers) {
                if (v < 0 || v > 0xffff) {
                    throw new IllegalArgumentException("dispi register value " + v + " is not 16 bits");
                }
            }
            if (endianness != LITTLE_ENDIAN && endianness != BIG_ENDIAN) {
                throw new IllegalArgumentException("framebuffer byte order 0x" + Integer.toHexString(endianness) + " is neither");
            }
            registers = registers.clone();
        }

        @Override
        public int[] registers() {
            return registers.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && Arrays.equals(registers, s.registers) && endianness == s.endianness;
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(registers) * 31 + endianness;
        }
    }

    public synchronized State save() {
        return new State(regs, endianness);
    }

    /** Registers of {@code vramBytes} VRAM set to {@code s} (any values: they are checked when scanned out). */
    public static DispiRegisters restore(long vramBytes, State s) {
        DispiRegisters d = new DispiRegisters(vramBytes);
        int[] v = s.registers();
        for (int i = 0; i < COUNT; i++) {
            d.write(i, v[i]);
        }
        d.endianness = s.endianness();
        return d;
    }
}
