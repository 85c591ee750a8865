package io.jkvm.isolation;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.jkvm.isolation.SeccompFilterTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/** The vCPU threads' filter program, run by {@link SeccompFilterTest}'s interpreter. */
class VcpuSeccompFilterTest {
    static final int X86_64 = SeccompFilter.AUDIT_ARCH_X86_64;
    static final int IOCTL = 16;
    static final long KVM_RUN = 0xAE80L;
    static final long KVM_SIGNAL_MSI = 0x4020AEA5L;
    static final long TUNSETOFFLOAD = 0x400454d0L;
    static final long FIONREAD = 0x541BL;
    static final long BLKDISCARD = 0x1277L;
    static final long UFFDIO_COPY = 0xC028AA03L;
    static final long FS_IOC_GETFLAGS = 0x80086601L;

    final List<Bpf.Insn> on = VcpuSeccompFilter.program(SeccompMode.ON);
    final List<Bpf.Insn> log = VcpuSeccompFilter.program(SeccompMode.LOG);

    int ioctl(List<Bpf.Insn> p, long request) {
        return run(p, IOCTL, X86_64, 7, request);
    }

    @Test
    void kvmTunAndTerminalIoctlsAreAllowed() {
        for (long r : new long[] {KVM_RUN, KVM_SIGNAL_MSI, TUNSETOFFLOAD, FIONREAD}) {
            assertThat(ioctl(on, r)).as("0x%x", r).isEqualTo(SeccompFilter.RET_ALLOW);
        }
    }

    @Test
    void otherIoctlsKillInOnModeAndAreLoggedInLogMode() {
        for (long r : new long[] {BLKDISCARD, UFFDIO_COPY, FS_IOC_GETFLAGS, 0}) {
            assertThat(ioctl(on, r)).as("0x%x", r).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
            assertThat(ioctl(log, r)).as("0x%x", r).isEqualTo(SeccompFilter.RET_LOG);
        }
    }

    @Test
    void theHighWordOfTheRequestCannotSmuggleAnAllowedType() {
        // The kernel truncates the request to unsigned int: only the low word counts, and is what is checked.
        assertThat(ioctl(on, 0xAE00_0000_0000_1277L)).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
        assertThat(ioctl(on, 0x1277_0000_0000_AE80L)).isEqualTo(SeccompFilter.RET_ALLOW);
    }

    @Property
    void anIoctlIsAllowedExactlyWhenItsTypeIsListed(@ForAll int request) {
        int type = (request >>> 8) & 0xff;
        int expected = VcpuSeccompFilter.IOCTL_TYPES.containsKey(type) ? SeccompFilter.RET_ALLOW : SeccompFilter.RET_KILL_PROCESS;
        assertThat(ioctl(on, Integer.toUnsignedLong(request))).isEqualTo(expected);
    }

    @Test
    void socketCallsAreDeniedAndEverythingElseIsLeftToTheProcessFilter() {
        for (int nr : VcpuSeccompFilter.DENIED.keySet()) {
            assertThat(run(on, nr, X86_64, 0)).as(VcpuSeccompFilter.DENIED.get(nr)).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
            assertThat(run(log, nr, X86_64, 0)).isEqualTo(SeccompFilter.RET_LOG);
        }
        for (int nr : new int[] {0 /* read */, 1 /* write */, 202 /* futex */, 9 /* mmap */, 44 /* sendto */, 46 /* sendmsg */}) {
            assertThat(run(on, nr, X86_64, 0)).as("nr %d", nr).isEqualTo(SeccompFilter.RET_ALLOW);
        }
    }

    @Test
    void aForeignArchitectureIsKilled() {
        assertThat(run(log, 0, SeccompFilterTest.ARCH_I386, 0)).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
    }
}
