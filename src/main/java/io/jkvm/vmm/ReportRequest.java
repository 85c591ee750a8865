package io.jkvm.vmm;

import io.jkvm.vmm.diag.VcpuState;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A report being gathered: each vCPU thread answers once with its state, read between two
 * KVM_RUNs; the asking thread waits a bounded time and reports the silent ones as stuck.
 */
final class ReportRequest {
    private final AtomicReferenceArray<VcpuState> answers;
    private final long[] answeredNanos;
    private final CountDownLatch missing;
    private final long startNanos = System.nanoTime();

    ReportRequest(int vcpus) {
        answers = new AtomicReferenceArray<>(vcpus);
        answeredNanos = new long[vcpus];
        missing = new CountDownLatch(vcpus);
    }

    boolean wants(int vcpu) {
        return answers.get(vcpu) == null;
    }

    void answer(int vcpu, VcpuState state) {
        answeredNanos[vcpu] = System.nanoTime(); // published by the CAS below
        if (answers.compareAndSet(vcpu, null, state)) {
            missing.countDown();
        }
    }

    boolean await(Duration timeout) throws InterruptedException {
        return missing.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    VcpuState answer(int vcpu) {
        return answers.get(vcpu);
    }

    long answerMillis(int vcpu) {
        return (answeredNanos[vcpu] - startNanos) / 1_000_000;
    }
}
