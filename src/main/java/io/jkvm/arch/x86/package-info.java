/**
 * The x86-64 machine description as pure logic: everything here computes bytes and register
 * values; nothing talks to KVM.
 *
 * <p>How the VMM uses it:
 * <ol>
 *   <li>Back guest RAM with exactly {@link io.jkvm.arch.x86.RamLayout#ranges(long)} and wrap it in a
 *       {@link io.jkvm.memory.GuestMemory}.
 *   <li>Call {@link io.jkvm.arch.x86.X86BootSetup#setup} with RAM size, vCPU count, kernel, initrd and
 *       command line. It writes kernel, initrd, command line, boot_params or hvm_start_info, e820,
 *       ACPI tables, GDT/IDT and page tables, and returns the BSP's
 *       {@link io.jkvm.arch.x86.cpu.BootCpuState} (copy into kvm_regs/kvm_sregs).
 *   <li>For every vCPU: KVM_SET_CPUID2 with
 *       {@link io.jkvm.arch.x86.cpuid.CpuidBuilder#forVcpu(int, int)} and KVM_SET_MSRS with
 *       {@link io.jkvm.arch.x86.cpu.BootMsrs#entries()}. Application processors keep KVM's reset
 *       state; the guest starts them with INIT/SIPI.
 * </ol>
 * User-facing failures are {@link io.jkvm.arch.x86.boot.BootException} (and its subclass
 * {@link io.jkvm.arch.x86.boot.KernelFormatException}) with a message meant to be shown as-is.
 */
package io.jkvm.arch.x86;
