package io.jkvm.resources;

import io.jkvm.api.Json;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A daemon VM's tuning: checked naming the field, kept as JSON, handed to its VMM as jkvm run's flags. */
class VmTuningTest {
    @Test
    void settingsBecomeTheVmmsFlags() {
        VmTuning t = new VmTuning(Map.of("1", "3", "all", "2-3"), "0-1", "fifo:10", true, 0L, true);
        t.validate(2);
        assertThat(t.flags()).containsExactly("--vcpu-pin", "1=3", "--vcpu-pin", "all=2-3", "--vmm-cpus", "0-1",
                "--vcpu-sched", "fifo:10", "--mlock", "--halt-poll-ns", "0", "--ksm");
        assertThat(new VmTuning(null, null, null, null, null, false).isEmpty()).isTrue();
    }

    @Test
    void badSettingsAreRefusedNamingTheField() {
        assertThatThrownBy(() -> new VmTuning(Map.of("2", "0"), null, null, null, null, null).validate(2))
                .hasMessageContaining("tuning.vcpu_pin.2: the VM has 2 vCPUs");
        assertThatThrownBy(() -> new VmTuning(Map.of("x", "0"), null, null, null, null, null).validate(2))
                .hasMessageContaining("tuning.vcpu_pin: 'x'");
        assertThatThrownBy(() -> new VmTuning(Map.of("0", "a"), null, null, null, null, null).validate(2))
                .hasMessageContaining("tuning.vcpu_pin.0");
        assertThatThrownBy(() -> new VmTuning(null, "5-1", null, null, null, null).validate(2))
                .hasMessageContaining("tuning.vmm_cpus");
        assertThatThrownBy(() -> new VmTuning(null, null, "fifo:0", null, null, null).validate(2))
                .hasMessageContaining("tuning.vcpu_sched");
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, -1L, null).validate(2))
                .hasMessageContaining("tuning.halt_poll_ns");
    }

    @Test
    void cgroupSettingsAreCheckedAndPassedOn() throws Exception {
        VmTuning t = new VmTuning(null, null, null, null, null, null, java.util.List.of("pids.max=300", "cpu.shares=512"));
        t.validate(1);
        assertThat(t.flags()).containsExactly("--cgroup", "pids.max=300", "--cgroup", "cpu.shares=512");
        assertThat(Json.MAPPER.readValue(Json.write(t), VmTuning.class)).isEqualTo(t);
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null, java.util.List.of("pids.max=1", "pids.max=2"))
                .validate(1)).hasMessageContaining("tuning.cgroup pids.max: given twice");
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null, java.util.List.of("freezer.state=FROZEN"))
                .validate(1)).hasMessageContaining("tuning.cgroup freezer.state: a daemon VM may set only its own limits");
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null, java.util.List.of("cpu.shares=4096"))
                .validate(1)).hasMessageContaining("tuning.cgroup cpu.shares=4096: must be 2 to 1024");
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null, java.util.List.of("tasks=1")).validate(1))
                .hasMessageContaining("tuning.cgroup tasks");
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null, java.util.List.of("memory.limit_in_bytes")).validate(1))
                .hasMessageContaining("tuning.cgroup memory.limit_in_bytes: expected FILE=VALUE");
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null,
                java.util.Collections.nCopies(VmTuning.MAX_CGROUP_SETTINGS + 1, "pids.max=1")).validate(1))
                .hasMessageContaining("tuning.cgroup: at most");
    }

    @Test
    void cgroupV2SettingsAreTakenWithTheSameBoundsAsTheirV1Counterparts() {
        VmTuning t = new VmTuning(null, null, null, null, null, null,
                java.util.List.of("memory.max=512M", "cpu.max=50000 100000", "cpu.weight=100", "pids.max=64", "memory.swap.max=0",
                        "io.max=8:0 wbps=10485760", "blkio.throttle.read_bps_device=8:0 10485760"));
        t.validate(1);
        assertThat(t.cgroupSettings()).hasSize(7);
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null, java.util.List.of("cpu.weight=101"))
                .validate(1)).hasMessageContaining("tuning.cgroup cpu.weight=101: must be 1 to 100");
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null, java.util.List.of("cpu.weight=0"))
                .validate(1)).hasMessageContaining("tuning.cgroup cpu.weight=0: must be 1 to 100");
        assertThatThrownBy(() -> new VmTuning(null, null, null, null, null, null, java.util.List.of("cgroup.subtree_control=+cpu"))
                .validate(1)).hasMessageContaining("tuning.cgroup cgroup.subtree_control");
    }

    @Test
    void onlyFifoAndRrAreRealTime() {
        assertThat(new VmTuning(null, null, "fifo:1", null, null, null).realTime()).isTrue();
        assertThat(new VmTuning(null, null, "rr:5", null, null, null).realTime()).isTrue();
        assertThat(new VmTuning(null, null, "other", null, null, null).realTime()).isFalse();
        assertThat(new VmTuning(null, null, null, null, null, null).realTime()).isFalse();
    }

    @Test
    void itRoundTripsAsJsonWithoutEmptyFields() throws Exception {
        VmTuning t = new VmTuning(Map.of("0", "1"), null, "rr:5", null, null, null);
        String json = Json.write(t);
        assertThat(json).isEqualTo("{\"vcpu_pin\":{\"0\":\"1\"},\"vcpu_sched\":\"rr:5\"}");
        assertThat(Json.MAPPER.readValue(json, VmTuning.class)).isEqualTo(t);
    }
}
