package io.jkvm.migration;

import io.jkvm.testing.Patience;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.DirtyTracker;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The dirty log on a real VM: guest writes come from KVM, VMM writes from the userspace log. */
@Tag("kvm")
class DirtyTrackerDirectTest {
    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void guestAndVmmWritesAreCollectedOnce() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code32
                    movl $1, 0x5000
                    movl $2, 0x7ff0
                    hlt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), code, 0x1000);
            try (DirtyTracker t = new DirtyTracker(m)) {
                t.start();
                m.start();
                assertThat(m.awaitExit(Patience.seconds(60))).isNotNull();
                // The log may over-report, never miss: nested KVM on the lab's emulated AMD CPU also
                // reports the code page the guest only executed. Migration resends such a page; it
                // would lose data only if a written page were missing.
                long[] written = t.collect();
                assertThat(written).as("the guest's two writes").contains(0x5000L, 0x7000L);
                assertThat(java.util.stream.LongStream.of(written).boxed().toList()).as("and at most the page it ran from")
                        .isSubsetOf(0x1000L, 0x5000L, 0x7000L);
                assertThat(t.collect()).as("collected once").isEmpty();

                m.memory().writeInt(0x9004, 7); // as a device would
                m.memory().slice(0xa000, 4097); // a view spanning two pages counts as written
                assertThat(m.memory().readInt(0x30000)).isZero(); // reads are not writes
                assertThat(t.collect()).containsExactly(0x9000L, 0xa000L, 0xb000L);
                assertThat(t.collect()).isEmpty();
                assertThat(t.collectFinal()).as("every page a device touched goes again at the pause")
                        .containsExactly(0x9000L, 0xa000L, 0xb000L);
                t.stop();
                m.memory().writeInt(0xc000, 1);
                try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                    var bitmap = a.allocate(64, 8);
                    assertThatThrownBy(() -> m.vm().getDirtyLog(0, bitmap)).hasMessageContaining("KVM_GET_DIRTY_LOG");
                }
            }
        }
    }
}
