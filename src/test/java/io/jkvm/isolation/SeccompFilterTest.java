package io.jkvm.isolation;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The generated BPF program, run by a tiny classic-BPF interpreter here (the subset the
 * builder emits: LD|W|ABS, ALU AND/RSH with K, JEQ/JGE/JSET with K, RET|K) on hand-made seccomp_data.
 */
class SeccompFilterTest {
    static final int ARCH_I386 = 0x40000003; // AUDIT_ARCH_I386
    static final int READ = 0;
    static final int EXECVE = 59;
    static final int CLONE = 56;
    static final int CLONE3 = 435;
    /** What glibc's pthread_create passes to clone (CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID). */
    static final int PTHREAD_FLAGS = 0x003d0f00;

    /** Runs {@code program} on seccomp_data {nr, arch, ip 0, args[0] = arg0}. */
    static int run(List<Bpf.Insn> program, int nr, int arch, long arg0) {
        return run(program, nr, arch, arg0, 0);
    }

    /** Runs {@code program} on seccomp_data {nr, arch, ip 0, args[0] = arg0, args[1] = arg1}. */
    static int run(List<Bpf.Insn> program, int nr, int arch, long arg0, long arg1) {
        int a = 0;
        int pc = 0;
        for (int steps = 0; steps < 10_000; steps++) {
            Bpf.Insn in = program.get(pc);
            int cls = in.code() & 0x07;
            switch (cls) {
                case Bpf.LD -> {
                    assertThat(in.code()).isEqualTo(Bpf.LD | Bpf.W | Bpf.ABS);
                    a = switch (in.k()) {
                        case 0 -> nr;
                        case 4 -> arch;
                        case 16 -> (int) arg0;
                        case 20 -> (int) (arg0 >>> 32);
                        case 24 -> (int) arg1;
                        case 28 -> (int) (arg1 >>> 32);
                        default -> throw new AssertionError("load of seccomp_data offset " + in.k());
                    };
                    pc++;
                }
                case Bpf.ALU -> {
                    a = switch (in.code() & 0xf0) {
                        case Bpf.AND -> a & in.k();
                        case Bpf.RSH -> a >>> in.k();
                        default -> throw new AssertionError("ALU op " + in.code());
                    };
                    pc++;
                }
                case Bpf.JMP -> {
                    boolean taken = switch (in.code() & 0xf0) {
                        case Bpf.JEQ -> a == in.k();
                        case Bpf.JGE -> Integer.compareUnsigned(a, in.k()) >= 0;
                        case Bpf.JSET -> (a & in.k()) != 0;
                        default -> throw new AssertionError("jump op " + in.code());
                    };
                    pc += 1 + (taken ? in.jt() : in.jf());
                }
                case Bpf.RET -> {
                    return in.k();
                }
                default -> throw new AssertionError("instruction class " + cls);
            }
        }
        throw new AssertionError("the program loops");
    }

    @Test
    void aForeignArchitectureIsKilledWhateverTheCall() {
        for (SeccompMode m : new SeccompMode[] {SeccompMode.ON, SeccompMode.LOG}) {
            List<Bpf.Insn> p = SeccompFilter.program(m);
            assertThat(run(p, READ, ARCH_I386, 0)).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
            assertThat(run(p, 11 /* i386 execve */, ARCH_I386, 0)).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
        }
    }

    @Test
    void deniedCallsKillInOnModeAndAreLoggedInLogMode() {
        List<Bpf.Insn> on = SeccompFilter.program(SeccompMode.ON);
        List<Bpf.Insn> log = SeccompFilter.program(SeccompMode.LOG);
        for (int nr : SeccompFilter.DENIED.keySet()) {
            assertThat(run(on, nr, SeccompFilter.AUDIT_ARCH_X86_64, 0)).as(SeccompFilter.DENIED.get(nr))
                    .isEqualTo(SeccompFilter.RET_KILL_PROCESS);
            assertThat(run(log, nr, SeccompFilter.AUDIT_ARCH_X86_64, 0)).isEqualTo(SeccompFilter.RET_LOG);
        }
        assertThat(SeccompFilter.DENIED).containsValues("execve", "execveat", "ptrace", "mount", "bpf", "unshare",
                "setns", "kexec_load", "init_module", "keyctl", "reboot", "perf_event_open", "fork", "vfork");
    }

    @Test
    void everyOtherCallIsAllowed() {
        List<Bpf.Insn> on = SeccompFilter.program(SeccompMode.ON);
        for (int nr = 0; nr < 470; nr++) {
            if (!SeccompFilter.DENIED.containsKey(nr) && nr != CLONE && nr != CLONE3) {
                assertThat(run(on, nr, SeccompFilter.AUDIT_ARCH_X86_64, 0)).as("call %d", nr).isEqualTo(SeccompFilter.RET_ALLOW);
            }
        }
    }

    @Test
    void x32CallsAreDenied() {
        assertThat(run(SeccompFilter.program(SeccompMode.ON), 0x40000000 | EXECVE, SeccompFilter.AUDIT_ARCH_X86_64, 0))
                .isEqualTo(SeccompFilter.RET_KILL_PROCESS);
        assertThat(run(SeccompFilter.program(SeccompMode.ON), 0x40000000, SeccompFilter.AUDIT_ARCH_X86_64, 0))
                .isEqualTo(SeccompFilter.RET_KILL_PROCESS);
    }

    @Test
    void clone3AnswersEnosysSoGlibcFallsBackToClone() {
        assertThat(run(SeccompFilter.program(SeccompMode.ON), CLONE3, SeccompFilter.AUDIT_ARCH_X86_64, 0))
                .isEqualTo(SeccompFilter.RET_ERRNO | 38);
    }

    @Test
    void cloneIsAllowedForThreadsOnly() {
        List<Bpf.Insn> on = SeccompFilter.program(SeccompMode.ON);
        int x64 = SeccompFilter.AUDIT_ARCH_X86_64;
        assertThat(run(on, CLONE, x64, PTHREAD_FLAGS)).isEqualTo(SeccompFilter.RET_ALLOW);
        assertThat(run(on, CLONE, x64, 17 /* SIGCHLD: fork */)).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
        assertThat(run(on, CLONE, x64, 0x4111 /* CLONE_VM|CLONE_VFORK|SIGCHLD: posix_spawn */))
                .isEqualTo(SeccompFilter.RET_KILL_PROCESS);
        assertThat(run(on, CLONE, x64, PTHREAD_FLAGS | 0x10000000 /* CLONE_NEWUSER */)).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
        assertThat(run(on, CLONE, x64, PTHREAD_FLAGS | 0x40000000 /* CLONE_NEWNET */)).isEqualTo(SeccompFilter.RET_KILL_PROCESS);
        assertThat(run(SeccompFilter.program(SeccompMode.LOG), CLONE, x64, 17)).isEqualTo(SeccompFilter.RET_LOG);
    }

    @Test
    void theProgramFitsTheKernelsLimitsAndBeginsWithTheArchCheck() {
        List<Bpf.Insn> p = SeccompFilter.program(SeccompMode.ON);
        assertThat(p.size()).isLessThanOrEqualTo(4096); // BPF_MAXINSNS
        assertThat(p.getFirst()).isEqualTo(new Bpf.Insn(Bpf.LD | Bpf.W | Bpf.ABS, 0, 0, 4));
        assertThat(p).allSatisfy(in -> assertThat(in.jt()).isBetween(0, 255));
    }

    @Test
    void ioctlIsAllowedBeforeTheDenyListIsWalked() {
        List<Bpf.Insn> p = SeccompFilter.program(SeccompMode.ON);
        int at = -1;
        for (int i = 0; i < p.size(); i++) {
            if (p.get(i).code() == (Bpf.JMP | Bpf.JEQ | Bpf.K) && p.get(i).k() == 16) {
                at = i;
                break;
            }
        }
        assertThat(at).as("the ioctl test, right after the architecture and x32 checks").isBetween(0, 5);
        assertThat(run(p, 16, SeccompFilter.AUDIT_ARCH_X86_64, 0)).isEqualTo(SeccompFilter.RET_ALLOW);
    }

    @Test
    void theBuilderRefusesBackwardAndMissingJumps() {
        assertThatThrownBy(() -> new Bpf().label("top").loadWord(0).jeq(1, "top", null).ret(0).build())
                .hasMessageContaining("must be 0 to 255");
        assertThatThrownBy(() -> new Bpf().jeq(1, "nowhere", null).ret(0).build()).hasMessageContaining("not defined");
        assertThatThrownBy(() -> new Bpf().loadWord(0).build()).hasMessageContaining("must end with a return");
    }
}
