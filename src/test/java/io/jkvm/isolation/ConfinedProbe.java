package io.jkvm.isolation;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.LongStream;

/**
 * A child process for the confinement tests (the test JVM itself is never confined): applies
 * {@code --seccomp MODE --landlock MODE} with a policy of {@link JvmPaths} plus each
 * {@code --allow DIR} ({@code --kernel-without-landlock} plays a kernel without it), prints one line for what it applied, then one line per action:
 * {@code open:PATH}, {@code create:PATH}, {@code status}, {@code load}, {@code execve:PATH},
 * {@code ptrace} (PEEKDATA of itself: harmless when allowed, ESRCH), {@code clone-process} (a fork:
 * only where seccomp kills it, or the probe would run on in two copies).
 */
public final class ConfinedProbe {
    private static final Linker LINKER = Linker.nativeLinker();

    public static void main(String[] args) throws Throwable {
        String seccomp = "off";
        String landlock = "off";
        boolean landlockMissing = false;
        List<LandlockPolicy.Rule> rules = new ArrayList<>(JvmPaths.rules());
        int i = 0;
        for (; i < args.length && args[i].startsWith("--"); i += 2) {
            switch (args[i]) {
                case "--seccomp" -> seccomp = args[i + 1];
                case "--landlock" -> landlock = args[i + 1];
                case "--kernel-without-landlock" -> {
                    landlockMissing = true;
                    i--;
                }
                case "--allow" -> rules.add(new LandlockPolicy.Rule(Path.of(args[i + 1]), LandlockPolicy.Access.CREATE, "probe"));
                default -> throw new IllegalArgumentException(args[i]);
            }
        }
        Confinement c = Confinement.of(seccomp, landlock).checked();
        LandlockAbi.Probe probe = landlockMissing ? new LandlockAbi.Probe(null, "the kernel was built without Landlock (played)")
                : LandlockAbi.probe();
        Confinement.Outcome o = c.apply(() -> new LandlockPolicy(rules), probe);
        System.out.println("confined seccomp=" + o.seccomp() + " landlock=" + o.landlock() + " in " + o.micros() + " us");
        System.out.flush();
        for (; i < args.length; i++) {
            String a = args[i];
            String arg = a.contains(":") ? a.substring(a.indexOf(':') + 1) : null;
            String verb = a.contains(":") ? a.substring(0, a.indexOf(':')) : a;
            String result = switch (verb) {
                case "open" -> open(arg, false);
                case "create" -> open(arg, true);
                case "status" -> status();
                case "load" -> load();
                case "execve" -> execve(arg);
                case "ptrace" -> "ptrace " + errnoOf(Syscall.call(101, 2 /* PTRACE_PEEKDATA */, ProcessHandle.current().pid(), 0));
                case "clone-process" -> "clone " + errnoOf(Syscall.call(56, 17 /* SIGCHLD: a fork */, 0, 0));
                case "ioctl" -> "ioctl " + arg + " " + ioctl(arg);
                case "vcpu-thread" -> onVcpuThread(arg);
                default -> throw new IllegalArgumentException(a);
            };
            System.out.println(result);
            System.out.flush();
        }
    }

    private static String open(String path, boolean create) {
        try {
            if (create) {
                Files.writeString(Path.of(path), "x");
            } else {
                Files.readAllBytes(Path.of(path));
            }
            return (create ? "create " : "open ") + path + " ok";
        } catch (java.nio.file.AccessDeniedException e) {
            return (create ? "create " : "open ") + path + " EACCES";
        } catch (java.io.IOException e) {
            return (create ? "create " : "open ") + path + " " + e;
        }
    }

    /** The Seccomp and NoNewPrivs lines of the process and of this thread. */
    private static String status() throws java.io.IOException {
        StringBuilder sb = new StringBuilder("status");
        for (String f : new String[] {"/proc/self/status", "/proc/thread-self/status"}) {
            for (String line : Files.readAllLines(Path.of(f))) {
                if (line.startsWith("Seccomp:") || line.startsWith("NoNewPrivs:")) {
                    sb.append(' ').append(f.contains("thread") ? "thread." : "process.").append(line.replaceAll("\\s+", ""));
                }
            }
        }
        return sb.toString();
    }

    /** Allocation and GC, new platform and virtual threads, a hot loop for the JIT, a parallel stream. */
    private static String load() throws Exception {
        long sum = 0;
        for (int round = 0; round < 50; round++) {
            byte[][] junk = new byte[256][];
            for (int j = 0; j < junk.length; j++) {
                junk[j] = new byte[16 * 1024];
            }
            sum += junk[round % junk.length].length;
        }
        System.gc();
        AtomicLong counted = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            threads.add(Thread.ofPlatform().start(() -> counted.addAndGet(hot(200_000))));
            threads.add(Thread.ofVirtual().start(() -> counted.addAndGet(hot(200_000))));
        }
        for (Thread t : threads) {
            t.join();
        }
        long parallel = LongStream.range(0, 2_000_000).parallel().map(x -> x % 7).sum();
        return "load ok threads=" + threads.size() + " counted=" + counted.get() + " parallel=" + parallel + " bytes=" + sum;
    }

    private static long hot(int n) {
        long h = 0;
        for (int k = 0; k < n; k++) {
            h = h * 31 + Integer.toString(k).hashCode();
        }
        return h == 42 ? 0 : 1;
    }

    private static String execve(String path) throws Throwable {
        MethodHandle execve = LINKER.downcallHandle(LINKER.defaultLookup().find("execve").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS),
                Linker.Option.captureCallState("errno"));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = a.allocate(Linker.Option.captureStateLayout());
            MemorySegment file = a.allocateFrom(path);
            MemorySegment argv = a.allocate(ValueLayout.ADDRESS, 2);
            argv.setAtIndex(ValueLayout.ADDRESS, 0, file);
            argv.setAtIndex(ValueLayout.ADDRESS, 1, MemorySegment.NULL);
            MemorySegment envp = a.allocate(ValueLayout.ADDRESS, 1);
            int r = (int) execve.invokeExact(cap, file, argv, envp);
            int errno = (int) Linker.Option.captureStateLayout()
                    .varHandle(MemoryLayout.PathElement.groupElement("errno")).get(cap, 0L);
            return "execve " + path + " returned " + r + " errno " + errno;
        }
    }

    /** ioctl(-1, request): EBADF (9) when the filters let it through. */
    private static String ioctl(String request) {
        return errnoOf(Syscall.call(16, -1, Long.decode(request), 0));
    }

    /**
     * On a new platform thread, as a vCPU thread does before its first KVM_RUN: the vCPU filter,
     * then {@code what}: {@code ioctl=REQUEST} or {@code socket}.
     */
    private static String onVcpuThread(String what) throws InterruptedException {
        String[] out = new String[1];
        Thread t = Thread.ofPlatform().name("fc_vcpu 0").start(() -> {
            String refused = VcpuSeccompFilter.onVcpuThread();
            System.out.println("vcpu filter " + (refused == null ? "installed" : refused) + " " + threadFilters());
            System.out.flush();
            out[0] = what.startsWith("ioctl=") ? "vcpu ioctl " + what.substring(6) + " " + ioctl(what.substring(6))
                    : "vcpu socket " + errnoOf(Syscall.call(41, 1 /* AF_UNIX */, 1 /* SOCK_STREAM */, 0));
        });
        t.join();
        return out[0];
    }

    /** This thread's "Seccomp_filters:N" from /proc/thread-self/status (Linux 5.9+; empty before). */
    private static String threadFilters() {
        try {
            return Files.readAllLines(Path.of("/proc/thread-self/status")).stream().filter(l -> l.startsWith("Seccomp_filters:"))
                    .map(l -> l.replaceAll("\\s+", "")).findFirst().orElse("");
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    private static String errnoOf(Syscall.Result r) {
        if (!r.failed() && r.value() == 0 && r.errno() == 0) {
            return "returned 0";
        }
        return r.failed() ? "errno " + r.errno() : "returned " + r.value();
    }
}
