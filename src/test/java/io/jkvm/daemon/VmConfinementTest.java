package io.jkvm.daemon;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** What {@code jkvm vm show} says of a VMM's confinement comes from the kernel's view of the process. */
class VmConfinementTest {
    @Test
    void thisProcessIsReadAsTheKernelReportsIt() throws Exception {
        VmConfinement c = VmConfinement.of(ProcessHandle.current().pid());
        assertThat(c).isNotNull();
        String status = Files.readString(Path.of("/proc/self/status"));
        assertThat(status).containsPattern("(?m)^Uid:\\s+\\d+\\s+" + c.uid() + "\\s")
                .containsPattern("(?m)^Gid:\\s+\\d+\\s+" + c.gid() + "\\s")
                .containsPattern("(?m)^CapEff:\\s+" + c.capabilities() + "$");
        assertThat(c.seccomp()).isEqualTo(status.contains("Seccomp:\t0") ? "off" : status.contains("Seccomp:\t1") ? "strict" : "filter");
        assertThat(c.noNewPrivs()).isEqualTo(status.contains("NoNewPrivs:\t1"));
        assertThat(c.cgroups()).isNotEmpty().allMatch(g -> g.contains(":/"));
        assertThat(c.ownNamespaces()).as("it shares every namespace with itself").isEmpty();
        // Limits and use from its cgroups: numbers or "max", and where memory is accounted, a use above zero.
        assertThat(c.usage()).allSatisfy((file, value) -> assertThat(value).matches("[0-9]+|max"));
        String used = c.usage().getOrDefault("memory.usage_in_bytes", c.usage().get("memory.current"));
        if (used != null) {
            assertThat(Long.parseLong(used)).isPositive();
        }
    }

    @Test
    void vcpuThreadsAreFoundByNameAndTheirFiltersCounted() throws Exception {
        assertThat(VmConfinement.of(ProcessHandle.current().pid()).vcpuSeccompFilters()).as("no vCPU thread yet").isNull();
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch named = new java.util.concurrent.CountDownLatch(1);
        Thread t = Thread.ofPlatform().name(io.jkvm.vmm.Machine.VCPU_THREAD_PREFIX + "9").start(() -> {
            named.countDown();
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            named.await();
            VmConfinement c = VmConfinement.of(ProcessHandle.current().pid());
            // No filter of its own here: the same count as the process (null together on kernels before 5.9).
            assertThat(c.vcpuSeccompFilters()).isEqualTo(c.seccompFilters());
        } finally {
            done.countDown();
            t.join();
        }
    }

    @Test
    void aProcessThatIsGoneHasNoReport() throws Exception {
        Process p = new ProcessBuilder("true").start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(VmConfinement.of(p.pid())).isNull();
    }
}
