/**
 * The virtual machine monitor's core: a {@link io.jkvm.vmm.Machine} is one KVM VM with its guest
 * RAM and one platform thread per vCPU in KVM_RUN (exits dispatched to the port and MMIO buses,
 * pause and resume, no lock held across KVM_RUN).
 *
 * <p>How a VM comes to run, in one place for a boot, a snapshot restore and an incoming live
 * migration: {@link io.jkvm.vmm.MachineBuilder} makes the machine (or takes the restored one),
 * has the {@link io.jkvm.vmm.DeviceManager} attach every device (new, or each built from the state
 * saved under its id), and for a boot puts the kernel and boot data into RAM
 * ({@code io.jkvm.arch.x86.X86BootSetup}) and sets the vCPUs up
 * ({@code io.jkvm.arch.x86.X86VcpuSetup}). {@link io.jkvm.vmm.LinuxVm} runs machine after
 * machine (a guest reboot builds the next one), takes control requests from the API and signals,
 * and keeps what outlives one machine: the UART and console, the display, counters and rate
 * limits.
 *
 * <p>A new device is added in {@link io.jkvm.vmm.DeviceManager}: its id, and one line in its
 * {@code attach} that opens it from the configuration's host resources, with or without a saved
 * state; its state codec goes in {@link io.jkvm.vmm.DeviceStateFormat}.
 */
package io.jkvm.vmm;
