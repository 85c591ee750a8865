package io.jkvm.device.pci;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * PCI bus 0: 32 device slots with one function each. Slot 0 holds the host bridge; other
 * devices take slots 1..31.
 *
 * <p>Configuration reads of an empty slot, a non-zero function, or any bus other than 0 return
 * 0xFFFFFFFF (a master abort: PCI 3.0 §6.1, "vendor ID 0xFFFF = no device"), writes to them are
 * dropped. Devices are added during machine setup; lookups are lock-free reads of a volatile
 * copy-on-write array so they can be done from any vCPU.
 */
public final class PciRoot {
    public static final int SLOTS = 32;
    public static final int ABSENT = 0xffff_ffff;

    /** Bus/device/function address. */
    public record Bdf(int bus, int device, int function) {
        public Bdf {
            if (bus < 0 || bus > 255 || device < 0 || device >= SLOTS || function < 0 || function > 7) {
                throw new IllegalArgumentException("invalid BDF " + bus + ":" + device + "." + function);
            }
        }

        @Override
        public String toString() {
            return String.format("%02x:%02x.%x", bus, device, function);
        }
    }

    private final Object addLock = new Object();
    private volatile PciDevice[] slots = new PciDevice[SLOTS];

    /** A bus with a {@link PciHostBridge} at 00:00.0. */
    public PciRoot() {
        this(new PciHostBridge());
    }

    /** A bus with {@code hostBridge} at 00:00.0. */
    public PciRoot(PciDevice hostBridge) {
        add(0, hostBridge);
    }

    /** Puts {@code dev} in the lowest free slot (1..31) and returns its device number. */
    public int add(PciDevice dev) {
        Objects.requireNonNull(dev, "dev");
        synchronized (addLock) {
            PciDevice[] s = slots;
            for (int i = 1; i < SLOTS; i++) {
                if (s[i] == null) {
                    add(i, dev);
                    return i;
                }
            }
        }
        throw new IllegalStateException("PCI bus 0 is full (31 devices)");
    }

    /** Puts {@code dev} in slot {@code device}. */
    public void add(int device, PciDevice dev) {
        Objects.requireNonNull(dev, "dev");
        if (device < 0 || device >= SLOTS) {
            throw new IllegalArgumentException("PCI slot out of range: " + device);
        }
        synchronized (addLock) {
            PciDevice[] s = slots.clone();
            if (s[device] != null) {
                throw new IllegalStateException("PCI slot " + device + " is already taken");
            }
            s[device] = dev;
            slots = s;
        }
    }

    public Optional<PciDevice> device(Bdf bdf) {
        return device(bdf.bus(), bdf.device(), bdf.function());
    }

    /** The device at {@code bus:device.function}, if any; any argument value is accepted. */
    public Optional<PciDevice> device(int bus, int device, int function) {
        if (bus != 0 || function != 0 || device < 0 || device >= SLOTS) {
            return Optional.empty();
        }
        return Optional.ofNullable(slots[device]);
    }

    /** Present devices by address, in slot order. */
    public Map<Bdf, PciDevice> devices() {
        Map<Bdf, PciDevice> out = new LinkedHashMap<>();
        PciDevice[] s = slots;
        for (int i = 0; i < SLOTS; i++) {
            if (s[i] != null) {
                out.put(new Bdf(0, i, 0), s[i]);
            }
        }
        return out;
    }

    /** Config dword {@code register} of a function; {@link #ABSENT} if there is none. */
    public int readConfig(int bus, int device, int function, int register) {
        Optional<PciDevice> d = device(bus, device, function);
        if (d.isEmpty() || register < 0 || register >= PciConfigSpace.DWORDS) {
            return ABSENT;
        }
        return d.get().readConfig(register);
    }

    /** Config write; dropped if the function does not exist or the access is malformed. */
    public void writeConfig(int bus, int device, int function, int register, int byteOffset, int size, int value) {
        device(bus, device, function).ifPresent(d -> d.writeConfig(register, byteOffset, size, value));
    }

    /** Resets every function (platform reset). */
    public void reset() {
        for (PciDevice d : slots) {
            if (d != null) {
                d.reset();
            }
        }
    }
}
