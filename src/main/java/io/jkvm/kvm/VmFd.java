package io.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.jkvm.kvm.KvmIoctls.*;

/** A KVM virtual machine file descriptor: memory slots, irqchip, PIT, interrupts, vCPU creation. */
public final class VmFd implements AutoCloseable {
    private final Kvm kvm;
    private final int fd;

    VmFd(Kvm kvm, int fd) {
        this.kvm = kvm;
        this.fd = fd;
    }

    public Kvm kvm() {
        return kvm;
    }

    public int fd() {
        return fd;
    }

    /** KVM_CHECK_EXTENSION on the VM fd (per-VM answers, api.rst 4.4). */
    public int checkExtension(int cap) {
        return Native.ioctl(fd, KVM_CHECK_EXTENSION, cap, "KVM_CHECK_EXTENSION");
    }

    /** KVM_SET_USER_MEMORY_REGION: maps {@code host} at guest-physical {@code gpa} in {@code slot}. */
    public void setUserMemoryRegion(int slot, int flags, long gpa, MemorySegment host) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(KvmStructs.MEMORY_REGION_SIZE, 8);
            r.set(ValueLayout.JAVA_INT, 0, slot);
            r.set(ValueLayout.JAVA_INT, 4, flags);
            r.set(ValueLayout.JAVA_LONG, 8, gpa);
            r.set(ValueLayout.JAVA_LONG, 16, host.byteSize());
            r.set(ValueLayout.JAVA_LONG, 24, host.address());
            Native.ioctl(fd, KVM_SET_USER_MEMORY_REGION, r, "KVM_SET_USER_MEMORY_REGION");
        }
    }

    /**
     * KVM_GET_DIRTY_LOG (api.rst 4.8): copies the slot's dirty bitmap (one bit per 4 KiB page,
     * bit i of little-endian 64-bit word i/64 = page i of the slot) into {@code bitmap}, which
     * must hold ALIGN(pages, 64) / 8 bytes. Without KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled (we
     * never enable it) the kernel clears the log and write-protects the pages again in the same
     * call, so each call returns the pages written since the previous one.
     */
    public void getDirtyLog(int slot, MemorySegment bitmap) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.DIRTY_LOG_SIZE, 8);
            s.set(ValueLayout.JAVA_INT, 0, slot);
            s.set(ValueLayout.JAVA_LONG, 8, bitmap.address());
            Native.ioctl(fd, KVM_GET_DIRTY_LOG, s, "KVM_GET_DIRTY_LOG");
        }
    }

    /** KVM_ENABLE_CAP on the VM fd with one argument (struct kvm_enable_cap: cap, flags, args[4]; api.rst 4.37). */
    public void enableCap(int cap, long arg0, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.ENABLE_CAP_SIZE, 8);
            s.set(ValueLayout.JAVA_INT, 0, cap);
            s.set(ValueLayout.JAVA_LONG, 8, arg0);
            Native.ioctl(fd, KVM_ENABLE_CAP, s, "KVM_ENABLE_CAP(" + name + ")");
        }
    }

    public void setTssAddr(long addr) {
        Native.ioctl(fd, KVM_SET_TSS_ADDR, addr, "KVM_SET_TSS_ADDR");
    }

    public void setIdentityMapAddr(long addr) {
        try (Arena a = Arena.ofConfined()) {
            Native.ioctl(fd, KVM_SET_IDENTITY_MAP_ADDR, a.allocateFrom(ValueLayout.JAVA_LONG, addr),
                    "KVM_SET_IDENTITY_MAP_ADDR");
        }
    }

    /** In-kernel PIC + IOAPIC + per-vCPU LAPIC (api.rst KVM_CREATE_IRQCHIP). */
    public void createIrqchip() {
        Native.ioctl(fd, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
    }

    /** In-kernel i8254 PIT wired to IRQ0 (api.rst KVM_CREATE_PIT2). */
    public void createPit2() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cfg = a.allocate(KvmStructs.PIT_CONFIG_SIZE, 8);
            Native.ioctl(fd, KVM_CREATE_PIT2, cfg, "KVM_CREATE_PIT2");
        }
    }

    /** KVM_IRQ_LINE: sets the level of an irqchip input (GSI). */
    public void irqLine(int gsi, boolean level) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(8, 4);
            s.set(ValueLayout.JAVA_INT, 0, gsi);
            s.set(ValueLayout.JAVA_INT, 4, level ? 1 : 0);
            Native.ioctl(fd, KVM_IRQ_LINE, s, "KVM_IRQ_LINE");
        }
    }

    /** KVM_SIGNAL_MSI: injects one message-signalled interrupt; returns 0 if the guest blocked it. */
    public int signalMsi(long address, int data) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.MSI_SIZE, 8);
            s.set(ValueLayout.JAVA_INT, 0, (int) address);
            s.set(ValueLayout.JAVA_INT, 4, (int) (address >>> 32));
            s.set(ValueLayout.JAVA_INT, 8, data);
            return Native.ioctl(fd, KVM_SIGNAL_MSI, s, "KVM_SIGNAL_MSI");
        }
    }

    /**
     * KVM_IOEVENTFD: a guest write to {@code addr} signals {@code eventfd} in the kernel without a
     * userspace exit. {@code pio} selects port I/O instead of MMIO; {@code datamatch} &lt; 0 means any.
     */
    public void ioeventfd(int eventfd, long addr, int len, boolean pio, long datamatch, boolean deassign) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.IOEVENTFD_SIZE, 8);
            int flags = 0;
            if (datamatch >= 0) {
                flags |= 1; // KVM_IOEVENTFD_FLAG_DATAMATCH
                s.set(ValueLayout.JAVA_LONG, 0, datamatch);
            }
            if (pio) {
                flags |= 2; // KVM_IOEVENTFD_FLAG_PIO
            }
            if (deassign) {
                flags |= 4; // KVM_IOEVENTFD_FLAG_DEASSIGN
            }
            s.set(ValueLayout.JAVA_LONG, 8, addr);
            s.set(ValueLayout.JAVA_INT, 16, len);
            s.set(ValueLayout.JAVA_INT, 20, eventfd);
            s.set(ValueLayout.JAVA_INT, 24, flags);
            Native.ioctl(fd, KVM_IOEVENTFD, s, "KVM_IOEVENTFD");
        }
    }

    /** KVM_IRQFD: writing to {@code eventfd} raises GSI {@code gsi} in the kernel. */
    public void irqfd(int eventfd, int gsi, boolean deassign) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.IRQFD_SIZE, 8);
            s.set(ValueLayout.JAVA_INT, 0, eventfd);
            s.set(ValueLayout.JAVA_INT, 4, gsi);
            s.set(ValueLayout.JAVA_INT, 8, deassign ? 1 : 0);
            Native.ioctl(fd, KVM_IRQFD, s, "KVM_IRQFD");
        }
    }

    /**
     * KVM_SET_GSI_ROUTING: replaces the <em>whole</em> routing table with {@code routes}
     * (struct kvm_irq_routing: u32 nr, u32 flags, then 48-byte entries). The caller must include
     * the default irqchip routes or legacy interrupts stop working.
     */
    public void setGsiRouting(java.util.List<IrqRoute> routes) {
        int n = routes.size();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(8L + (long) n * KvmStructs.IRQ_ROUTING_ENTRY_SIZE, 8);
            s.set(ValueLayout.JAVA_INT, 0, n);
            for (int i = 0; i < n; i++) {
                long e = 8L + (long) i * KvmStructs.IRQ_ROUTING_ENTRY_SIZE;
                IrqRoute r = routes.get(i);
                s.set(ValueLayout.JAVA_INT, e, r.gsi());
                switch (r) {
                    case IrqRoute.Irqchip c -> {
                        s.set(ValueLayout.JAVA_INT, e + 4, IrqRoute.TYPE_IRQCHIP);
                        s.set(ValueLayout.JAVA_INT, e + 16, c.chip());
                        s.set(ValueLayout.JAVA_INT, e + 20, c.pin());
                    }
                    case IrqRoute.Msi m -> {
                        s.set(ValueLayout.JAVA_INT, e + 4, IrqRoute.TYPE_MSI);
                        s.set(ValueLayout.JAVA_INT, e + 16, (int) m.address());
                        s.set(ValueLayout.JAVA_INT, e + 20, (int) (m.address() >>> 32));
                        s.set(ValueLayout.JAVA_INT, e + 24, m.data());
                    }
                }
            }
            Native.ioctl(fd, KVM_SET_GSI_ROUTING, s, "KVM_SET_GSI_ROUTING");
        }
    }

    /** Reads a fixed-size VM state structure (irqchip, PIT, clock...). */
    public byte[] getState(long ioctl, int size, String name, byte[] in) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(size, 8);
            if (in != null) {
                MemorySegment.copy(in, 0, s, ValueLayout.JAVA_BYTE, 0, in.length);
            }
            Native.ioctl(fd, ioctl, s, name);
            return s.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    public void setState(long ioctl, byte[] data, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(data.length, 8);
            MemorySegment.copy(data, 0, s, ValueLayout.JAVA_BYTE, 0, data.length);
            Native.ioctl(fd, ioctl, s, name);
        }
    }

    /** KVM_GET_IRQCHIP for one chip (KVM_IRQCHIP_PIC_MASTER/SLAVE/IOAPIC): the whole struct kvm_irqchip. */
    public byte[] getIrqchip(int chipId) {
        byte[] in = new byte[KvmStructs.IRQCHIP_SIZE];
        in[0] = (byte) chipId; // u32 chip_id, little-endian
        return getState(KVM_GET_IRQCHIP, KvmStructs.IRQCHIP_SIZE, "KVM_GET_IRQCHIP(" + chipId + ")", in);
    }

    /** KVM_SET_IRQCHIP with a struct kvm_irqchip from {@link #getIrqchip} (chip_id inside). */
    public void setIrqchip(byte[] chip) {
        requireSize(chip, KvmStructs.IRQCHIP_SIZE, "kvm_irqchip");
        setState(KVM_SET_IRQCHIP, chip, "KVM_SET_IRQCHIP(" + (chip[0] & 0xff) + ")");
    }

    /** KVM_GET_PIT2: struct kvm_pit_state2 (needs KVM_CAP_PIT_STATE2 and a PIT). */
    public byte[] getPit2() {
        return getState(KVM_GET_PIT2, KvmStructs.PIT_STATE2_SIZE, "KVM_GET_PIT2", null);
    }

    public void setPit2(byte[] pit) {
        requireSize(pit, KvmStructs.PIT_STATE2_SIZE, "kvm_pit_state2");
        setState(KVM_SET_PIT2, pit, "KVM_SET_PIT2");
    }

    /** KVM_GET_CLOCK: struct kvm_clock_data (kvmclock value, flags, realtime, host_tsc). */
    public byte[] getClock() {
        return getState(KVM_GET_CLOCK, KvmStructs.CLOCK_DATA_SIZE, "KVM_GET_CLOCK", null);
    }

    /** KVM_SET_CLOCK with {@code data}'s clock and the given flags (0: set the value as is). */
    public void setClock(byte[] data, int flags) {
        requireSize(data, KvmStructs.CLOCK_DATA_SIZE, "kvm_clock_data");
        StructBuffer b = new StructBuffer(data.clone());
        b.u32(8, flags);
        setState(KVM_SET_CLOCK, b.bytes(), "KVM_SET_CLOCK");
    }

    static void requireSize(byte[] data, int size, String struct) {
        if (data.length != size) {
            throw new IllegalArgumentException(struct + " must be " + size + " bytes, got " + data.length);
        }
    }

    public VcpuFd createVcpu(int id) {
        int vfd = Native.ioctl(fd, KVM_CREATE_VCPU, id, "KVM_CREATE_VCPU");
        return new VcpuFd(this, id, vfd, kvm.vcpuMmapSize());
    }

    @Override
    public void close() {
        Native.close(fd);
    }
}
