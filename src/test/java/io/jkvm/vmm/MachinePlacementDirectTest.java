package io.jkvm.vmm;

import io.jkvm.device.BusDevice;
import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.Native;
import io.jkvm.kvm.Scheduling;
import io.jkvm.resources.CpuList;
import io.jkvm.resources.RtPolicy;
import io.jkvm.resources.VcpuPlacement;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.ProcThreads;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Direct-KVM: a machine placed as {@code jkvm run --vcpu-pin --vmm-cpus --vcpu-sched --mlock
 * --halt-poll-ns} asks, seen from the host as taskset -p and chrt -p see it (the vCPU threads'
 * affinity and policy by thread id) and in /proc/self/status (locked memory); and a placement the
 * host refuses stops the machine before any vCPU ran, naming the setting.
 */
@Tag("kvm")
class MachinePlacementDirectTest {
    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void vcpuThreadsRunWhereAndHowThePlacementSaysAndRamIsLocked() throws Exception {
        BitSet allowed = Scheduling.affinity(0);
        assertThat(allowed).isNotNull();
        int first = allowed.nextSetBit(0);
        boolean root = Native.geteuid() == 0;
        byte[] code = TestGuest.assemble("""
                .code16
                    mov $0x520, %dx
                    out %al, %dx
                    cli
                stop:
                    hlt
                    jmp stop
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(2, 4 << 20, true, io.jkvm.memory.RamBacking.PAGES))) {
            boolean haltPoll = m.vm().checkExtension(KvmIoctls.KVM_CAP_HALT_POLL) > 0;
            VcpuPlacement p = new VcpuPlacement(Map.of(0, CpuList.parse("t", String.valueOf(first))),
                    CpuList.parse("t", CpuList.format(allowed)), CpuList.parse("t", CpuList.format(allowed)),
                    root ? new RtPolicy(Scheduling.SCHED_RR, 1) : null, true, haltPoll ? 0L : null);
            m.place(p);
            CountDownLatch ran = new CountDownLatch(1);
            m.pio().register(0x520, 1, new BusDevice() {
                @Override
                public long read(long offset, int size) {
                    return 0;
                }

                @Override
                public void write(long offset, int size, long value) {
                    ran.countDown();
                }
            });
            TestGuest.startRealMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            m.start();
            assertThat(ran.await(Patience.secondsOf(30), TimeUnit.SECONDS)).as("the guest ran").isTrue();

            int vcpu0 = ProcThreads.named(Machine.VCPU_THREAD_PREFIX + "0");
            int vcpu1 = ProcThreads.named(Machine.VCPU_THREAD_PREFIX + "1");
            assertThat(Scheduling.affinity(vcpu0)).as("taskset -p of vCPU 0").isEqualTo(single(first));
            assertThat(Scheduling.affinity(vcpu1)).as("vCPU 1 takes the all-vCPU set").isEqualTo(allowed);
            if (root) {
                assertThat(Scheduling.scheduler(vcpu0)).as("chrt -p of vCPU 0").isEqualTo(Scheduling.SCHED_RR);
                assertThat(Scheduling.scheduler(vcpu1)).isEqualTo(Scheduling.SCHED_RR);
            }
            assertThat(lockedKb()).as("VmLck: the guest's 4 MiB locked").isGreaterThanOrEqualTo(4096);
        }
    }

    @Test
    void aPlacementTheHostRefusesStopsTheMachineBeforeAnyVcpuRanAndNamesTheSetting() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code16
                    mov $0x520, %dx
                    out %al, %dx
                    hlt
                """, 0x1000);
        int impossible = Scheduling.MAX_CPUS - 1; // in the syntax's range, on no machine of ours
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            m.place(new VcpuPlacement(Map.of(0, CpuList.parse("t", String.valueOf(impossible))), null, null, null, false, null));
            TestGuest.startRealMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            assertThatThrownBy(m::start).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("vcpu-pin 0=" + impossible + ": sched_setaffinity");
            MachineExit exit = m.awaitExit(Patience.seconds(30));
            assertThat(exit.reason()).isEqualTo(StopReason.ERROR);
            assertThat(exit.detail()).contains("vcpu-pin 0=" + impossible);
            assertThat(m.exitCount(KvmIoctls.KVM_EXIT_IO)).as("no vCPU entered KVM_RUN").isZero();
        }
    }

    private static long lockedKb() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmLck:"))
                .map(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElse(0L);
    }

    private static BitSet single(int cpu) {
        BitSet b = new BitSet();
        b.set(cpu);
        return b;
    }
}
