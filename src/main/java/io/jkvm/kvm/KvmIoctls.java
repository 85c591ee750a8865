package io.jkvm.kvm;

/**
 * KVM ioctl request numbers, built the way linux/kvm.h builds them (asm-generic/ioctl.h:
 * dir&lt;&lt;30 | size&lt;&lt;16 | type&lt;&lt;8 | nr, KVMIO = 0xAE). Sizes come from {@link KvmStructs},
 * and a unit test checks the results against the values gcc computes from the headers.
 */
public final class KvmIoctls {
    private KvmIoctls() {}

    private static final int KVMIO = 0xAE;
    private static final long NONE = 0, WRITE = 1, READ = 2;

    static long ioc(long dir, int nr, long size) {
        return (dir << 30) | (size << 16) | ((long) KVMIO << 8) | nr;
    }

    static long io(int nr) {
        return ioc(NONE, nr, 0);
    }

    static long ior(int nr, long size) {
        return ioc(READ, nr, size);
    }

    static long iow(int nr, long size) {
        return ioc(WRITE, nr, size);
    }

    static long iowr(int nr, long size) {
        return ioc(READ | WRITE, nr, size);
    }

    // System ioctls (on /dev/kvm).
    public static final long KVM_GET_API_VERSION = io(0x00);
    public static final long KVM_CREATE_VM = io(0x01);
    public static final long KVM_GET_MSR_INDEX_LIST = iowr(0x02, 4);
    public static final long KVM_CHECK_EXTENSION = io(0x03);
    public static final long KVM_GET_VCPU_MMAP_SIZE = io(0x04);
    public static final long KVM_GET_SUPPORTED_CPUID = iowr(0x05, 8);

    // VM ioctls.
    public static final long KVM_CREATE_VCPU = io(0x41);
    public static final long KVM_GET_DIRTY_LOG = iow(0x42, KvmStructs.DIRTY_LOG_SIZE);
    public static final long KVM_SET_USER_MEMORY_REGION = iow(0x46, KvmStructs.MEMORY_REGION_SIZE);
    /** struct kvm_userspace_memory_region.flags: log writes for KVM_GET_DIRTY_LOG (api.rst 4.35). */
    public static final int KVM_MEM_LOG_DIRTY_PAGES = 1;
    public static final long KVM_SET_TSS_ADDR = io(0x47);
    public static final long KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
    public static final long KVM_CREATE_IRQCHIP = io(0x60);
    public static final long KVM_IRQ_LINE = iow(0x61, 8);
    public static final long KVM_GET_IRQCHIP = iowr(0x62, KvmStructs.IRQCHIP_SIZE);
    public static final long KVM_SET_IRQCHIP = ior(0x63, KvmStructs.IRQCHIP_SIZE);
    public static final long KVM_SET_GSI_ROUTING = iow(0x6a, 8);
    public static final long KVM_IRQFD = iow(0x76, KvmStructs.IRQFD_SIZE);
    public static final long KVM_CREATE_PIT2 = iow(0x77, KvmStructs.PIT_CONFIG_SIZE);
    public static final long KVM_IOEVENTFD = iow(0x79, KvmStructs.IOEVENTFD_SIZE);
    public static final long KVM_SET_CLOCK = iow(0x7b, KvmStructs.CLOCK_DATA_SIZE);
    public static final long KVM_GET_CLOCK = ior(0x7c, KvmStructs.CLOCK_DATA_SIZE);
    public static final long KVM_GET_PIT2 = ior(0x9f, KvmStructs.PIT_STATE2_SIZE);
    public static final long KVM_SET_PIT2 = iow(0xa0, KvmStructs.PIT_STATE2_SIZE);
    public static final long KVM_ENABLE_CAP = iow(0xa3, KvmStructs.ENABLE_CAP_SIZE);
    public static final long KVM_SIGNAL_MSI = iow(0xa5, KvmStructs.MSI_SIZE);

    // vCPU ioctls.
    public static final long KVM_RUN = io(0x80);
    public static final long KVM_GET_REGS = ior(0x81, KvmStructs.REGS_SIZE);
    public static final long KVM_SET_REGS = iow(0x82, KvmStructs.REGS_SIZE);
    public static final long KVM_GET_SREGS = ior(0x83, KvmStructs.SREGS_SIZE);
    public static final long KVM_SET_SREGS = iow(0x84, KvmStructs.SREGS_SIZE);
    public static final long KVM_GET_MSRS = iowr(0x88, 8);
    public static final long KVM_SET_MSRS = iow(0x89, 8);
    public static final long KVM_SET_SIGNAL_MASK = iow(0x8b, 4);
    public static final long KVM_GET_FPU = ior(0x8c, KvmStructs.FPU_SIZE);
    public static final long KVM_SET_FPU = iow(0x8d, KvmStructs.FPU_SIZE);
    public static final long KVM_GET_LAPIC = ior(0x8e, KvmStructs.LAPIC_SIZE);
    public static final long KVM_SET_LAPIC = iow(0x8f, KvmStructs.LAPIC_SIZE);
    public static final long KVM_SET_CPUID2 = iow(0x90, 8);
    public static final long KVM_GET_CPUID2 = iowr(0x91, 8);
    public static final long KVM_GET_MP_STATE = ior(0x98, 4);
    public static final long KVM_SET_MP_STATE = iow(0x99, 4);
    public static final long KVM_GET_VCPU_EVENTS = ior(0x9f, KvmStructs.VCPU_EVENTS_SIZE);
    public static final long KVM_SET_VCPU_EVENTS = iow(0xa0, KvmStructs.VCPU_EVENTS_SIZE);
    public static final long KVM_GET_DEBUGREGS = ior(0xa1, KvmStructs.DEBUGREGS_SIZE);
    public static final long KVM_SET_DEBUGREGS = iow(0xa2, KvmStructs.DEBUGREGS_SIZE);
    public static final long KVM_GET_XSAVE = ior(0xa4, KvmStructs.XSAVE_SIZE);
    public static final long KVM_SET_XSAVE = iow(0xa5, KvmStructs.XSAVE_SIZE);
    public static final long KVM_GET_XCRS = ior(0xa6, KvmStructs.XCRS_SIZE);
    public static final long KVM_SET_XCRS = iow(0xa7, KvmStructs.XCRS_SIZE);
    public static final long KVM_GET_TSC_KHZ = io(0xa3);
    public static final long KVM_KVMCLOCK_CTRL = io(0xad);

    // Capabilities (KVM_CHECK_EXTENSION arguments).
    public static final int KVM_CAP_HALT_POLL = 182;
    public static final int KVM_CAP_IRQCHIP = 0x0;
    public static final int KVM_CAP_USER_MEMORY = 0x3;
    /** Memory slots a VM may have (api.rst 4.35: KVM_CAP_NR_MEMSLOTS). */
    public static final int KVM_CAP_NR_MEMSLOTS = 10;
    public static final int KVM_CAP_SET_TSS_ADDR = 0x4;
    public static final int KVM_CAP_EXT_CPUID = 0x7;
    public static final int KVM_CAP_NR_VCPUS = 0x9;
    public static final int KVM_CAP_MP_STATE = 0xe;
    public static final int KVM_CAP_IRQ_ROUTING = 0x19;
    public static final int KVM_CAP_IRQFD = 0x20;
    public static final int KVM_CAP_PIT2 = 0x21;
    public static final int KVM_CAP_IOEVENTFD = 0x24;
    public static final int KVM_CAP_SET_IDENTITY_MAP_ADDR = 0x25;
    public static final int KVM_CAP_ADJUST_CLOCK = 0x27;
    public static final int KVM_CAP_VCPU_EVENTS = 0x29;
    public static final int KVM_CAP_DEBUGREGS = 0x32;
    public static final int KVM_CAP_XSAVE = 0x37;
    public static final int KVM_CAP_XCRS = 0x38;
    public static final int KVM_CAP_MAX_VCPUS = 0x42;
    public static final int KVM_CAP_SIGNAL_MSI = 0x4d;
    public static final int KVM_CAP_IMMEDIATE_EXIT = 0x88;
    public static final int KVM_CAP_MAX_VCPU_ID = 0x80;
    public static final int KVM_CAP_DIRTY_LOG_RING = 0xc0;
    public static final int KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 0xa8;
    public static final int KVM_CAP_PIT_STATE2 = 35;
    public static final int KVM_CAP_KVMCLOCK_CTRL = 76;
    public static final int KVM_CAP_XSAVE2 = 208;

    // struct kvm_clock_data.flags (api.rst, KVM_GET_CLOCK).
    public static final int KVM_CLOCK_TSC_STABLE = 2;
    public static final int KVM_CLOCK_REALTIME = 1 << 2;
    public static final int KVM_CLOCK_HOST_TSC = 1 << 3;

    // struct kvm_irqchip.chip_id (api.rst, KVM_GET_IRQCHIP).
    public static final int KVM_IRQCHIP_PIC_MASTER = 0;
    public static final int KVM_IRQCHIP_PIC_SLAVE = 1;
    public static final int KVM_IRQCHIP_IOAPIC = 2;

    // Exit reasons (kvm_run.exit_reason).
    public static final int KVM_EXIT_UNKNOWN = 0;
    public static final int KVM_EXIT_EXCEPTION = 1;
    public static final int KVM_EXIT_IO = 2;
    public static final int KVM_EXIT_DEBUG = 4;
    public static final int KVM_EXIT_HLT = 5;
    public static final int KVM_EXIT_MMIO = 6;
    public static final int KVM_EXIT_IRQ_WINDOW_OPEN = 7;
    public static final int KVM_EXIT_SHUTDOWN = 8;
    public static final int KVM_EXIT_FAIL_ENTRY = 9;
    public static final int KVM_EXIT_INTR = 10;
    public static final int KVM_EXIT_INTERNAL_ERROR = 17;
    public static final int KVM_EXIT_SYSTEM_EVENT = 24;

    // kvm_run.system_event.type
    public static final int KVM_SYSTEM_EVENT_SHUTDOWN = 1;
    public static final int KVM_SYSTEM_EVENT_RESET = 2;
    public static final int KVM_SYSTEM_EVENT_CRASH = 3;

    // MP states (api.rst, KVM_GET_MP_STATE).
    public static final int KVM_MP_STATE_RUNNABLE = 0;
    public static final int KVM_MP_STATE_UNINITIALIZED = 1;
    public static final int KVM_MP_STATE_INIT_RECEIVED = 2;
    public static final int KVM_MP_STATE_HALTED = 3;
    public static final int KVM_MP_STATE_SIPI_RECEIVED = 4;

    /** Human name for an exit reason, for reports and metrics. */
    public static String exitName(int reason) {
        return switch (reason) {
            case KVM_EXIT_UNKNOWN -> "UNKNOWN";
            case KVM_EXIT_EXCEPTION -> "EXCEPTION";
            case KVM_EXIT_IO -> "IO";
            case KVM_EXIT_DEBUG -> "DEBUG";
            case KVM_EXIT_HLT -> "HLT";
            case KVM_EXIT_MMIO -> "MMIO";
            case KVM_EXIT_IRQ_WINDOW_OPEN -> "IRQ_WINDOW_OPEN";
            case KVM_EXIT_SHUTDOWN -> "SHUTDOWN";
            case KVM_EXIT_FAIL_ENTRY -> "FAIL_ENTRY";
            case KVM_EXIT_INTR -> "INTR";
            case KVM_EXIT_INTERNAL_ERROR -> "INTERNAL_ERROR";
            case KVM_EXIT_SYSTEM_EVENT -> "SYSTEM_EVENT";
            default -> "EXIT_" + reason;
        };
    }
}
