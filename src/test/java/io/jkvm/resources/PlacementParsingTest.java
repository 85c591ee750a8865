package io.jkvm.resources;

import io.jkvm.kvm.Scheduling;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.util.BitSet;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** CPU lists in the kernel's syntax, chrt-style scheduling classes, and the placement's own checks. */
class PlacementParsingTest {
    @Test
    void cpuListsParseAsTheKernelWritesThem() {
        assertThat(CpuList.parse("f", "0-3,6").bits()).isEqualTo(bits(0, 1, 2, 3, 6));
        assertThat(CpuList.parse("f", " 5 ").toString()).isEqualTo("5");
        assertThat(CpuList.parse("f", "2,1,0").toString()).isEqualTo("0-2");
        assertThat(CpuList.parse("f", "0,1,4").toString()).isEqualTo("0,1,4");
    }

    @Test
    void badCpuListsAreRefusedNamingTheFieldAndThePart() {
        for (String bad : List.of("", "a", "3-1", "1,,2", "-1", "1-", "99999", String.valueOf(Scheduling.MAX_CPUS))) {
            assertThatThrownBy(() -> CpuList.parse("--vmm-cpus", bad)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("--vmm-cpus");
        }
    }

    @Test
    void aCpuOutsideThisProcesssSetIsNamed() {
        assertThatThrownBy(() -> CpuList.parse("--vcpu-pin 0=", "1,7").requireWithin("--vcpu-pin 0=", bits(0, 1)))
                .hasMessageContaining("CPU 7 is not one this process may run on (allowed: 0,1)");
    }

    @Property
    void anyCpuSetSurvivesFormatAndParse(@ForAll @Size(min = 1, max = 20) List<@IntRange(min = 0, max = 300) Integer> cpus) {
        BitSet set = new BitSet();
        cpus.forEach(set::set);
        assertThat(CpuList.parse("f", CpuList.format(set)).bits()).isEqualTo(set);
    }

    @Test
    void schedulingClassesAreChrts() {
        assertThat(RtPolicy.parse("s", "fifo:10")).isEqualTo(new RtPolicy(Scheduling.SCHED_FIFO, 10));
        assertThat(RtPolicy.parse("s", "rr:99")).isEqualTo(new RtPolicy(Scheduling.SCHED_RR, 99));
        assertThat(RtPolicy.parse("s", "other").realTime()).isFalse();
        for (String bad : List.of("fifo", "fifo:0", "fifo:100", "rr:-1", "idle:1", "fifo:1x", "")) {
            assertThatThrownBy(() -> RtPolicy.parse("--vcpu-sched", bad)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("--vcpu-sched");
        }
    }

    @Test
    void pinsOfVcpusTheVmDoesNotHaveAreRefused() {
        VcpuPlacement p = new VcpuPlacement(Map.of(2, CpuList.parse("f", "0")), null, null, null, false, null);
        assertThatThrownBy(() -> p.requireVcpus(2)).hasMessageContaining("vcpu-pin 2=0: the VM has 2 vCPUs (0 to 1)");
        p.requireVcpus(3);
        assertThat(p.cpusOf(2).toString()).isEqualTo("0");
        assertThat(p.cpusOf(0)).isNull();
        assertThatThrownBy(() -> new VcpuPlacement(Map.of(), null, null, null, false, -1L)).hasMessageContaining("halt-poll-ns");
    }

    private static BitSet bits(int... cpus) {
        BitSet b = new BitSet();
        for (int c : cpus) {
            b.set(c);
        }
        return b;
    }
}
