/**
 * The VMM confining itself once its VM is built (issue 13): {@link io.jkvm.isolation.Confinement}
 * sets no_new_privs, applies a Landlock {@link io.jkvm.isolation.LandlockPolicy} derived from the
 * VM's configuration ({@link io.jkvm.isolation.Landlock}, Documentation/userspace-api/landlock.rst,
 * {@code linux/landlock.h}) and installs the {@link io.jkvm.isolation.SeccompFilter} on every
 * thread (Documentation/userspace-api/seccomp_filter.rst, man 2 seccomp, {@code linux/seccomp.h},
 * {@code linux/filter.h}, {@code linux/audit.h}), a classic BPF program built by
 * {@link io.jkvm.isolation.Bpf}. Every call goes through libc's syscall(2) with FFM
 * ({@link io.jkvm.isolation.Syscall}); nothing here is native code of jkvm's own.
 *
 * <p>Where it happens: {@link io.jkvm.vmm.LinuxVm#beforeFirstStart}, after the VM's files are
 * open and its devices attached, before the vCPUs first run the guest, on the thread that then
 * starts them. Settings are checked before anything boots ({@link io.jkvm.isolation.Confinement#checked}).
 *
 * <p>Before the VMM starts: {@link io.jkvm.isolation.Jail} builds a Firecracker-style jail
 * ({@code jkvm jailer}, from a checked {@link io.jkvm.isolation.JailerConfig}) with the calls of
 * {@link io.jkvm.isolation.JailCalls}: limits, cgroups, a mount namespace and pivot_root, device
 * nodes, the network and PID namespaces, the VM's user, then exec or spawn of the VMM.
 *
 * <p>Not done: a tighter filter per vCPU thread (ioctl by request number). A vCPU thread runs
 * Java code, so the JVM makes its own calls on it (futex at safepoints, mmap/madvise for the
 * heap, open/read for lazily loaded classes, signals), and device emulation on it issues KVM,
 * TAP and block ioctls that depend on what the guest negotiates; an allow list robust to both
 * is a project of its own, for a small gain over the process-wide filter plus Landlock.
 */
package io.jkvm.isolation;
