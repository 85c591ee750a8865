package io.jkvm.testing;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The tier's classes as KvmTierInLabTest shares them out: tagged, matching, never the lab runner itself. */
class TierLauncherClassesTest {
    @Test
    void theTierIsItsTaggedClassesWithoutTheLabRunner() {
        var all = TierLauncher.classes("kvm", TierLauncher.ALL_CLASSES);
        assertThat(all).contains("io.jkvm.vmm.MachineDirectTest", "io.jkvm.daemon.DaemonDirectTest")
                .noneMatch(c -> c.endsWith("InLabTest")).noneMatch(c -> c.contains("$")).isSorted().doesNotHaveDuplicates();
        assertThat(all).doesNotContain("io.jkvm.labtests.TierLanesTest");
        assertThat(TierLauncher.classes("kvm", ".*\\.MachineDirectTest")).containsExactly("io.jkvm.vmm.MachineDirectTest");
    }
}
