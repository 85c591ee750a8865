package io.jkvm.arch.x86.cpu;

import io.jkvm.arch.x86.Layout;

/**
 * The boot processor's register state at the first instruction of the kernel: plain values the
 * KVM layer copies into kvm_regs and kvm_sregs. Application processors are not described here:
 * they start in KVM's reset state and are woken by the guest with INIT/SIPI.
 */
public record BootCpuState(
        long rip,
        long rsi,
        long rbx,
        long rsp,
        long rflags,
        long cr0,
        long cr3,
        long cr4,
        long efer,
        Segment cs,
        Segment ds,
        Segment es,
        Segment fs,
        Segment gs,
        Segment ss,
        Segment tr,
        Segment ldt,
        DescriptorTable gdt,
        DescriptorTable idt) {

    public static final long CR0_PE = 1;
    public static final long CR0_ET = 1 << 4;
    public static final long CR0_PG = 1L << 31;
    public static final long CR4_PAE = 1 << 5;
    public static final long EFER_LME = 1 << 8;
    public static final long EFER_LMA = 1 << 10;
    /** RFLAGS with only the always-one bit 1: interrupts off (IF=0), TF=0, VM=0. */
    public static final long RFLAGS_DEFAULT = 0x2;
    /** 32-bit busy TSS (type 11), base 0, limit 0x67 (pvh.pandoc requires exactly this TR). */
    public static final Segment TR = new Segment(0, 0x67, 0, 0xb, true, 0, false, false, false, false, false, false);
    /** The LDT as after reset: selector 0, type 2 (LDT), limit 0xFFFF. */
    public static final Segment LDT = new Segment(0, 0xffff, 0, 0x2, true, 0, false, false, false, false, false, false);

    /**
     * 64-bit Linux boot protocol (boot.rst "64-bit Boot Protocol"): long mode with paging and
     * identity tables, CS = __BOOT_CS (64-bit), data segments = __BOOT_DS, RSI = boot_params,
     * interrupts disabled.
     */
    public static BootCpuState longMode(long entry, long zeroPage) {
        Segment cs = BootGdt.segment(BootGdt.CODE64_SELECTOR);
        Segment ds = BootGdt.segment(BootGdt.DATA_SELECTOR);
        return new BootCpuState(entry, zeroPage, 0, Layout.BOOT_STACK, RFLAGS_DEFAULT,
                CR0_PE | CR0_ET | CR0_PG, PageTables.cr3(), CR4_PAE, EFER_LME | EFER_LMA,
                cs, ds, ds, ds, ds, ds, TR, LDT, BootGdt.gdtr(), BootGdt.idtr());
    }

    /**
     * PVH entry (Xen docs/misc/pvh.pandoc): 32-bit flat protected mode, paging off, CR4 = 0,
     * EBX = physical address of hvm_start_info, TR a 32-bit TSS with limit 0x67.
     */
    public static BootCpuState pvh(long entry, long startInfo) {
        Segment cs = BootGdt.segment(BootGdt.CODE32_SELECTOR);
        Segment ds = BootGdt.segment(BootGdt.DATA_SELECTOR);
        return new BootCpuState(entry, 0, startInfo, Layout.BOOT_STACK, RFLAGS_DEFAULT,
                CR0_PE | CR0_ET, 0, 0, 0,
                cs, ds, ds, ds, ds, ds, TR, LDT, BootGdt.gdtr(), BootGdt.idtr());
    }
}
