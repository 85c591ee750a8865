/**
 * VM snapshots: save a paused machine's complete state and restore it into a new machine,
 * possibly in another process. Entry point: {@link io.jkvm.snapshot.Snapshots}.
 *
 * <h2>What is saved</h2>
 * {@link io.jkvm.snapshot.VmState}: the machine configuration (vCPUs, memory size, irqchip); per
 * vCPU regs, sregs, FPU, XSAVE, XCRs, the MSRs of KVM_GET_MSR_INDEX_LIST that KVM_GET_MSRS can
 * read, LAPIC, vCPU events, MP state, debug registers and CPUID; the PIC master/slave and IOAPIC
 * (KVM_GET_IRQCHIP), the PIT (KVM_GET_PIT2) and kvmclock (KVM_GET_CLOCK). Userspace devices add
 * {@link io.jkvm.snapshot.DeviceState}s (device id + bytes). Guest RAM goes to a separate memory file.
 *
 * <h2>Device persistence: what a new device implements</h2>
 * One contract for every device, in the shape of Firecracker's {@code Persist} trait
 * ({@link io.jkvm.snapshot.Persist}):
 * <ol>
 *   <li>A {@code record State(...)} in the device's own class, validating its ranges in the
 *       constructor (IllegalArgumentException), with {@code public static final
 *       RecordCodec<State> CODEC} ({@link io.jkvm.snapshot.RecordCodec}: a unique kind, a
 *       writer on {@link io.jkvm.snapshot.StateWriter}, a reader on the hostile-input
 *       {@link io.jkvm.snapshot.BoundedReader} that bounds every count and field).</li>
 *   <li>{@code implements Persist<State>}: {@code State save()}, called with the device quiescent.</li>
 *   <li>{@code static Device restore(host resources..., State s)} that builds the device from
 *       the state and refuses one that does not fit with
 *       {@link io.jkvm.snapshot.DeviceMismatchException} (never IllegalArgumentException).
 *       A virtio device's state is nested in its transport's ({@code VirtioPciState}); the
 *       transport is rebuilt around the device by {@code VirtioDevices.restore(id, ...)}, and
 *       what needs live queues goes in {@code VirtioDevice.restoreState(Record, active)}.</li>
 *   <li>Its codec in {@code io.jkvm.vmm.DeviceStateFormat}, the registry of the device section,
 *       and its id in {@code io.jkvm.vmm.LinuxVm} (save with {@code CODECS.encode(id, save())},
 *       restore through {@code SavedDevices.restore(id, State.class, ...)}).</li>
 *   <li>Changing any encoding bumps {@link io.jkvm.snapshot.DeviceCodecs#FORMAT_VERSION}: the
 *       device section has one version, and a state of another is refused naming both.</li>
 * </ol>
 *
 * <h2>Device states of a Linux VM</h2>
 * {@code io.jkvm.vmm.LinuxVm#captureDeviceStates} produces states keyed by device id, never by
 * position: {@code vm_config} ({@link io.jkvm.snapshot.VmConfigState}: kernel, command line,
 * vCPUs, memory, disks, TAPs and MACs, so a restore re-opens the same devices and refuses a
 * different layout; and the devices' rate limits, configuration the restored devices enforce
 * again with full buckets), {@code serial0}, {@code i8042}, {@code rtc}, {@code acpi_pm},
 * {@code pci_host} (CONFIG_ADDRESS latch and host bridge), and per virtio-pci function
 * {@code drive/DRIVE_ID} (or {@code diskN} for a disk configured without an id),
 * {@code net/GUEST_MAC}, {@code rng0}, {@code console0}: config space, MSI-X, transport
 * registers, queue positions and the device model's own state record. Each encoding is
 * {@link io.jkvm.snapshot.DeviceCodecs}' u8 format version, kind, fields; it is refused
 * (SnapshotException naming the device id and field) when malformed, of another format
 * version (snapshots of jkvm before format 2 cannot be read: boot and snapshot again) or of
 * another kind than the device expects. Values that depend on the target device - read-only
 * config-space bits, disk size, queue sizes, vectors, ring addresses in guest RAM, the used
 * index the driver sees - are checked when it is built. Virtio I/O is suspended before
 * capture: the request in progress completes into the used ring, nothing else starts, disks
 * are fsync'd. Restoring a virtio-pci function maps the BAR (ioeventfds) and re-programs the
 * MSI routes (irqfds). Live migration sends the same states in its DEVICE records.
 *
 * <p>Before a paused vCPU parks, {@code Machine} completes the last exit's pending operation
 * (KVM_RUN with immediate_exit, api.rst "KVM_RUN"), so an IN/MMIO read interrupted by the pause
 * is not lost or repeated.
 *
 * <h2>Files</h2>
 * State file: {@link io.jkvm.snapshot.SnapshotFile} (magic "JKVMSNAP", version, protection, key
 * id, JSON header with configuration, memory-file length + MAC and section directory, payload
 * sections "kvm" ({@link io.jkvm.snapshot.KvmStateCodec}) and "device/NAME", trailing
 * HMAC-SHA256). Memory file: raw RAM regions back to back, or 1 MiB AES-GCM chunks when
 * encrypted. The memory file's MAC in the authenticated state header binds the two files; for a
 * clear file the header also has a MAC per 1 MiB chunk, so a restore can fill RAM lazily and
 * check each chunk on first touch ({@link io.jkvm.snapshot.MemoryChunks}). The "kvm" section encoding is self-contained so live migration can send
 * it as is.
 *
 * <h2>Diff snapshots</h2>
 * Firecracker's snapshot_type "Diff" ({@link io.jkvm.snapshot.Snapshots#saveDiff}): the machine
 * tracks dirty pages ({@code io.jkvm.vmm.DirtyTracker}: KVM_GET_DIRTY_LOG, api.rst 4.8, plus
 * pages VMM devices wrote). The memory file is as long as RAM but only the dirty pages since
 * the previous snapshot are written ({@link io.jkvm.snapshot.DiffFile}). The state header has
 * kind "diff", the page runs ({@link io.jkvm.snapshot.DirtyRuns}: bounded, aligned, inside RAM,
 * sorted, disjoint), the diff's length and MAC, and as its memory record the length and MAC of
 * all RAM at the snapshot: {@link io.jkvm.snapshot.DiffMerge} checks the diff before copying its
 * pages onto the base, and the merged file then loads exactly like a Full memory file. Files
 * without a kind (written before Diffs existed) are Full; the format version is unchanged.
 *
 * <h2>Restore order</h2>
 * See {@link io.jkvm.snapshot.KvmStateRestore}: CPUID; irqchip, PIT, clock; then per vCPU MP
 * state, sregs, regs, FPU, XSAVE, XCRs, LAPIC, MSRs, events, debug registers, KVMCLOCK_CTRL.
 *
 * <h2>Hostile input</h2>
 * Every length and count is bounded before allocation; the MAC is checked before the header is
 * parsed; the only exception for bad input is {@link io.jkvm.snapshot.SnapshotException}, whose
 * message names the file and the problem.
 */
package io.jkvm.snapshot;
