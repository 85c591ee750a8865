package io.jkvm.arch.x86.cpu;

import io.jkvm.kvm.MsrEntry;

import java.util.List;

/**
 * MSR values for every vCPU at boot (Intel SDM Vol. 4 for the indices): the SYSENTER/SYSCALL
 * MSRs and KERNEL_GS_BASE cleared (the kernel programs them), TSC 0, fast strings enabled in
 * IA32_MISC_ENABLE, and MTRRs enabled with write-back as the default memory type so the guest
 * does not run uncached.
 */
public final class BootMsrs {
    private BootMsrs() {}

    public static final int IA32_TSC = 0x10;
    public static final int IA32_SYSENTER_CS = 0x174;
    public static final int IA32_SYSENTER_ESP = 0x175;
    public static final int IA32_SYSENTER_EIP = 0x176;
    public static final int IA32_MISC_ENABLE = 0x1a0;
    public static final int IA32_MTRR_DEF_TYPE = 0x2ff;
    public static final int STAR = 0xc000_0081;
    public static final int LSTAR = 0xc000_0082;
    public static final int CSTAR = 0xc000_0083;
    public static final int SYSCALL_MASK = 0xc000_0084;
    public static final int KERNEL_GS_BASE = 0xc000_0102;

    /** IA32_MISC_ENABLE bit 0: fast-strings enable. */
    public static final long MISC_ENABLE_FAST_STRING = 1;
    /** IA32_MTRR_DEF_TYPE: E (bit 11) enabled, default type 6 (write-back). */
    public static final long MTRR_ENABLED_WRITE_BACK = (1 << 11) | 6;

    public static List<MsrEntry> entries() {
        return List.of(
                new MsrEntry(IA32_SYSENTER_CS, 0),
                new MsrEntry(IA32_SYSENTER_ESP, 0),
                new MsrEntry(IA32_SYSENTER_EIP, 0),
                new MsrEntry(STAR, 0),
                new MsrEntry(LSTAR, 0),
                new MsrEntry(CSTAR, 0),
                new MsrEntry(SYSCALL_MASK, 0),
                new MsrEntry(KERNEL_GS_BASE, 0),
                new MsrEntry(IA32_TSC, 0),
                new MsrEntry(IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING),
                new MsrEntry(IA32_MTRR_DEF_TYPE, MTRR_ENABLED_WRITE_BACK));
    }
}
