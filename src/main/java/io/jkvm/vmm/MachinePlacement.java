package io.jkvm.vmm;

import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;
import io.jkvm.kvm.Scheduling;
import io.jkvm.kvm.VmFd;
import io.jkvm.memory.GuestMemory;
import io.jkvm.resources.CpuList;
import io.jkvm.resources.RtPolicy;
import io.jkvm.resources.VcpuPlacement;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * One start's application of a {@link VcpuPlacement}. Halt polling and locked RAM are set up
 * before any vCPU thread exists; each vCPU thread then takes its CPUs and scheduling class itself
 * (sched_setaffinity and sched_setscheduler act on the calling thread's id), and no vCPU enters
 * KVM_RUN until all have, so a refusal on one never lets the guest run half-placed. The VMM's
 * other threads are pinned last; threads they create later inherit their mask.
 */
final class MachinePlacement {
    /** How long start waits for the vCPU threads to report: they only make two system calls each. */
    private static final long REPORT_SECONDS = 30;

    private final VcpuPlacement p;
    private final CountDownLatch reported;
    private final AtomicReference<String> refusal = new AtomicReference<>();

    MachinePlacement(VcpuPlacement p, int vcpus) {
        this.p = p;
        this.reported = new CountDownLatch(p.isNone() ? 0 : vcpus);
    }

    /** Halt polling and locked RAM. @throws IllegalStateException naming the setting and errno */
    void beforeVcpus(VmFd vm, GuestMemory memory) {
        if (p.haltPollNs() != null) {
            if (vm.checkExtension(KvmIoctls.KVM_CAP_HALT_POLL) <= 0) {
                throw new IllegalStateException("halt-poll-ns: this host's KVM has no per-VM halt polling (KVM_CAP_HALT_POLL)");
            }
            try {
                vm.enableCap(KvmIoctls.KVM_CAP_HALT_POLL, p.haltPollNs(), "KVM_CAP_HALT_POLL");
            } catch (NativeException e) {
                throw new IllegalStateException("halt-poll-ns " + p.haltPollNs() + ": " + e.getMessage(), e);
            }
        }
        if (p.mlock()) {
            for (GuestMemory.Region r : memory.regions()) {
                int err = Scheduling.mlock(r.host());
                if (err < 0) {
                    throw new IllegalStateException("mlock: cannot lock " + (r.host().byteSize() >> 20)
                            + " MiB of guest RAM: " + Native.strerror(-err)
                            + " (raise the locked-memory limit, ulimit -l / RLIMIT_MEMLOCK, or run with CAP_IPC_LOCK)");
                }
            }
        }
    }

    /**
     * On vCPU thread {@code index}, before its first KVM_RUN: takes its CPUs and class, then waits
     * for the others. Returns whether the machine may run (false: this or another vCPU was refused).
     */
    boolean onVcpuThread(int index) {
        if (p.isNone()) {
            return true;
        }
        try {
            apply(index);
        } catch (IllegalStateException e) {
            refusal.compareAndSet(null, e.getMessage());
        } finally {
            reported.countDown();
        }
        awaitReports();
        return refusal.get() == null;
    }

    private void apply(int index) {
        int tid = Native.gettid();
        CpuList cpus = p.cpusOf(index);
        if (cpus != null) {
            int err = Scheduling.setAffinity(tid, cpus.bits());
            if (err < 0) {
                throw new IllegalStateException("vcpu-pin " + index + "=" + cpus + ": sched_setaffinity: " + Native.strerror(-err));
            }
        }
        RtPolicy sched = p.sched();
        if (sched != null) {
            int err = Scheduling.setScheduler(tid, sched.policy(), sched.priority());
            if (err < 0) {
                throw new IllegalStateException("vcpu-sched " + sched + ": sched_setscheduler on vCPU " + index + ": "
                        + Native.strerror(-err) + (err == -1 /* EPERM */ && sched.realTime()
                        ? " (a real-time class needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least " + sched.priority() + ")" : ""));
            }
        }
    }

    /** Waits for every vCPU thread's report; one that does not come is a refusal. */
    private void awaitReports() {
        try {
            if (!reported.await(REPORT_SECONDS, TimeUnit.SECONDS)) {
                refusal.compareAndSet(null, "vCPU placement: not every vCPU thread started within " + REPORT_SECONDS + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            refusal.compareAndSet(null, "vCPU placement: interrupted");
        }
    }

    /** Why the vCPUs may not run (null: they may). */
    String refusal() {
        return refusal.get();
    }

    /** In start, after the vCPU threads were created: their verdict (null: all placed). */
    String awaitVcpus() {
        awaitReports();
        return refusal.get();
    }

    /** Pins this process's threads that are not vCPUs (named {@code vcpuPrefix}N) to the VMM's CPUs. */
    void afterVcpus(String vcpuPrefix) {
        CpuList vmm = p.vmmCpus();
        if (vmm == null) {
            return;
        }
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                String comm;
                try {
                    comm = Files.readString(t.resolve("comm")).strip();
                } catch (IOException gone) {
                    continue; // the thread ended meanwhile
                }
                if (comm.startsWith(vcpuPrefix)) {
                    continue;
                }
                int err = Scheduling.setAffinity(Integer.parseInt(t.getFileName().toString()), vmm.bits());
                if (err < 0 && err != -3 /* ESRCH: ended meanwhile */) {
                    throw new IllegalStateException("vmm-cpus " + vmm + ": sched_setaffinity on thread " + comm + ": "
                            + Native.strerror(-err));
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("vmm-cpus " + vmm + ": cannot list this process's threads: " + e.getMessage(), e);
        }
    }
}
