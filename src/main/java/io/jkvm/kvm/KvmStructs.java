package io.jkvm.kvm;

/**
 * Sizes and field offsets of the KVM structures jkvm exchanges with the kernel, from
 * /usr/include/linux/kvm.h and asm/kvm.h (x86-64). Kept in one place; a unit test compiles a
 * C probe against the installed headers and compares.
 */
public final class KvmStructs {
    private KvmStructs() {}

    public static final int REGS_SIZE = 144;
    public static final int SREGS_SIZE = 312;
    public static final int SEGMENT_SIZE = 24;
    public static final int DTABLE_SIZE = 16;
    public static final int FPU_SIZE = 416;
    public static final int LAPIC_SIZE = 1024;
    public static final int CPUID_ENTRY2_SIZE = 40;
    public static final int MSR_ENTRY_SIZE = 16;
    public static final int MEMORY_REGION_SIZE = 32;
    public static final int IRQFD_SIZE = 32;
    public static final int IOEVENTFD_SIZE = 64;
    public static final int MSI_SIZE = 32;
    public static final int IRQ_ROUTING_ENTRY_SIZE = 48;
    public static final int PIT_CONFIG_SIZE = 64;
    public static final int PIT_STATE2_SIZE = 112;
    public static final int IRQCHIP_SIZE = 520;
    public static final int CLOCK_DATA_SIZE = 48;
    public static final int VCPU_EVENTS_SIZE = 64;
    public static final int XSAVE_SIZE = 4096;
    public static final int XCRS_SIZE = 392;
    public static final int DEBUGREGS_SIZE = 128;
    public static final int ENABLE_CAP_SIZE = 104;
    public static final int DIRTY_LOG_SIZE = 16;

    /** struct kvm_run (the shared page mmap'd from a vCPU fd). */
    public static final class Run {
        private Run() {}

        public static final int IMMEDIATE_EXIT = 1;
        public static final int EXIT_REASON = 8;
        public static final int IF_FLAG = 13;
        public static final int CR8 = 16;
        public static final int APIC_BASE = 24;
        public static final int IO_DIRECTION = 32; // u8: 0 = in, 1 = out
        public static final int IO_SIZE = 33; // u8
        public static final int IO_PORT = 34; // u16
        public static final int IO_COUNT = 36; // u32
        public static final int IO_DATA_OFFSET = 40; // u64, from the start of kvm_run
        public static final int MMIO_PHYS_ADDR = 32; // u64
        public static final int MMIO_DATA = 40; // u8[8]
        public static final int MMIO_LEN = 48; // u32
        public static final int MMIO_IS_WRITE = 52; // u8
        public static final int FAIL_ENTRY_REASON = 32; // u64
        public static final int FAIL_ENTRY_CPU = 40; // u32
        public static final int INTERNAL_SUBERROR = 32; // u32
        public static final int INTERNAL_NDATA = 36; // u32
        public static final int INTERNAL_DATA = 40; // u64[16]
        public static final int SYSTEM_EVENT_TYPE = 32; // u32
        public static final int SYSTEM_EVENT_NDATA = 36;
        public static final int SYSTEM_EVENT_DATA = 40;
    }

    /** struct kvm_regs: 18 u64 in this order. */
    public static final class Regs {
        private Regs() {}

        public static final int RAX = 0, RBX = 8, RCX = 16, RDX = 24, RSI = 32, RDI = 40, RSP = 48, RBP = 56;
        public static final int R8 = 64, R9 = 72, R10 = 80, R11 = 88, R12 = 96, R13 = 104, R14 = 112, R15 = 120;
        public static final int RIP = 128, RFLAGS = 136;
    }

    /** struct kvm_sregs. */
    public static final class Sregs {
        private Sregs() {}

        public static final int CS = 0, DS = 24, ES = 48, FS = 72, GS = 96, SS = 120, TR = 144, LDT = 168;
        public static final int GDT = 192, IDT = 208;
        public static final int CR0 = 224, CR2 = 232, CR3 = 240, CR4 = 248, CR8 = 256, EFER = 264, APIC_BASE = 272;
        public static final int INTERRUPT_BITMAP = 280;
    }

    /** struct kvm_segment. */
    public static final class Segment {
        private Segment() {}

        public static final int BASE = 0; // u64
        public static final int LIMIT = 8; // u32
        public static final int SELECTOR = 12; // u16
        public static final int TYPE = 14, PRESENT = 15, DPL = 16, DB = 17, S = 18, L = 19, G = 20, AVL = 21,
                UNUSABLE = 22;
    }

    /** struct kvm_dtable: base u64, limit u16. */
    public static final class Dtable {
        private Dtable() {}

        public static final int BASE = 0, LIMIT = 8;
    }

    /** struct kvm_fpu (fields used at boot). */
    public static final class Fpu {
        private Fpu() {}

        public static final int FCW = 128; // u16
        public static final int MXCSR = 408; // u32
    }

    /** struct kvm_lapic_state: the 4 KiB APIC page's first 1 KiB. Register offsets from the SDM. */
    public static final class Lapic {
        private Lapic() {}

        public static final int LVT_LINT0 = 0x350, LVT_LINT1 = 0x360;
    }
}
