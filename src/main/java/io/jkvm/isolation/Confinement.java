package io.jkvm.isolation;

import java.util.function.Supplier;

/**
 * The VMM confining itself once its VM is built (issue 13): no_new_privs, then Landlock, then
 * the seccomp filter, in that order because landlock_restrict_self and seccomp(SET_MODE_FILTER)
 * both require no_new_privs from an unprivileged caller, and the filter comes last so nothing
 * it might deny is needed to set the others up.
 *
 * <p>Before all of them, the VMM gives up root for its VM's own user and group, if given
 * ({@link VmIdentity}).
 *
 * <p>{@link #checked} runs before boot and is where a setting the kernel cannot honour fails
 * with one line naming the flag; {@link #apply} runs after the VM's files are open and its
 * devices attached, before its vCPUs first run the guest.
 *
 * @param seccomp the filter's mode
 * @param seccompExplicit whether {@code --seccomp} was given: the default ({@code on}) quietly
 *        becomes {@code off} on a kernel without seccomp filters, an explicit {@code on} fails
 * @param landlock the Landlock mode
 * @param identity the user and group the VMM becomes first ({@code --uid}/{@code --gid}), or null to stay who it is
 */
public record Confinement(SeccompMode seccomp, boolean seccompExplicit, LandlockMode landlock, VmIdentity identity) {
    public static final String SECCOMP_FLAG = "--seccomp";
    public static final String LANDLOCK_FLAG = "--landlock";

    /** Nothing at all (tests of other things, and {@code --seccomp off --landlock off}). */
    public static final Confinement NONE = new Confinement(SeccompMode.OFF, true, LandlockMode.OFF, null);

    /** From the flags' values (null: not given); an {@link IllegalArgumentException} names a bad one. */
    public static Confinement of(String seccomp, String landlock) {
        return new Confinement(seccomp == null ? SeccompMode.ON : SeccompMode.parse(SECCOMP_FLAG, seccomp),
                seccomp != null, landlock == null ? LandlockMode.AUTO : LandlockMode.parse(LANDLOCK_FLAG, landlock), null);
    }

    /** This confinement, with the VMM becoming {@code id} first (null: staying who it is). */
    public Confinement withIdentity(VmIdentity id) {
        return new Confinement(seccomp, seccompExplicit, landlock, id);
    }

    /**
     * The settings this kernel (and this JVM) can honour, checked before anything boots: an
     * explicit {@code --seccomp on|log} or {@code --landlock on} that cannot be done is an
     * {@link IllegalArgumentException} with one line naming the flag and why; the default
     * seccomp {@code on} becomes {@code off} instead.
     */
    public Confinement checked() {
        return checked(LandlockAbi::probe, () -> {
            if (JvmArgs.forksAtExit(JvmArgs.all())) {
                return "this JVM writes an AOT cache at exit (-XX:AOTCacheOutput) with a child JVM, which the filter forbids";
            }
            return SeccompFilter.unavailable();
        });
    }

    /** {@link #checked()} with the kernel's answers given (tests play a kernel without Landlock or seccomp). */
    Confinement checked(Supplier<LandlockAbi.Probe> landlockProbe, Supplier<String> seccompUnavailable) {
        SeccompMode s = seccomp;
        if (s != SeccompMode.OFF) {
            String why = seccompUnavailable.get();
            if (why != null) {
                if (seccompExplicit) {
                    throw new IllegalArgumentException(SECCOMP_FLAG + " " + s + ": " + why + " (use " + SECCOMP_FLAG + " off)");
                }
                s = SeccompMode.OFF;
            }
        }
        if (landlock == LandlockMode.ON) {
            LandlockAbi.Probe p = landlockProbe.get();
            if (!p.available()) {
                throw new IllegalArgumentException(LANDLOCK_FLAG + " on: " + p.unavailable() + " (use " + LANDLOCK_FLAG
                        + " auto or off)");
            }
        }
        if (identity != null) {
            identity.requirePossible();
        }
        Confinement c = new Confinement(s, seccompExplicit, landlock, identity);
        c.rehearse();
        return c;
    }

    /**
     * Runs the code of {@link #apply} once in the background, without confining anything: the
     * first run of a cold JVM costs most (class loading, binding the calls), and the VMM has
     * time to spare while its VM is built, none once it is built.
     */
    private void rehearse() {
        if (seccomp == SeccompMode.OFF && landlock == LandlockMode.OFF) {
            return;
        }
        Thread.ofPlatform().daemon().name("confine-rehearsal").start(() -> {
            try {
                if (seccomp != SeccompMode.OFF) {
                    try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                        Bpf.fprog(a, SeccompFilter.program(seccomp));
                    }
                }
                LandlockAbi.Probe p = landlock == LandlockMode.OFF ? null : LandlockAbi.probe();
                if (p != null && p.available()) {
                    Landlock.rehearse(new LandlockPolicy(JvmPaths.rules()), p.abi());
                }
            } catch (RuntimeException e) {
                // Only a rehearsal: the real run reports its own errors.
            }
        });
    }

    /**
     * What {@link #apply} did, as words for the VMM's log ({@code landlockScope} null without
     * Landlock), and the Landlock policy in force (null: none) with whether it binds every
     * thread, for the API's checks of paths named after start.
     */
    public record Outcome(String seccomp, String landlock, String landlockScope, LandlockPolicy policy,
            boolean allThreads, long micros) {
        private static final String UNAVAILABLE = "unavailable: ";

        /** Landlock was wanted ({@code auto}) but could not be applied (no Landlock, or a 9p path). */
        public boolean landlockUnavailable() {
            return landlock.startsWith(UNAVAILABLE);
        }

        /** Why Landlock could not be applied (null: it was, or was not wanted). */
        public String landlockUnavailableReason() {
            return landlockUnavailable() ? landlock.substring(UNAVAILABLE.length()) : null;
        }
    }

    /**
     * The hook {@link io.jkvm.vmm.LinuxVm#beforeFirstStart} takes: applies this confinement with
     * the VM's policy ({@link LandlockPolicy#forVm} with {@code vmmPaths}, read at that moment)
     * and hands the outcome to {@code report}.
     */
    public java.util.function.Consumer<io.jkvm.config.VmConfig> hook(Supplier<java.util.List<LandlockPolicy.Rule>> vmmPaths,
            java.util.function.Consumer<Outcome> report) {
        return config -> report.accept(apply(() -> LandlockPolicy.forVm(config, vmmPaths.get())));
    }

    /**
     * Confines the process (seccomp) and this thread or every thread (Landlock, see
     * {@link LandlockAbi#allThreads}). {@code policy} is only built when Landlock is used.
     * Throws (naming the failed call) if a step fails; Landlock in {@code auto} mode on a kernel
     * without it, or with a policy path on a file system where its rules do not hold
     * ({@link FileSystems}), is not a failure but an outcome saying so ({@code on} fails).
     */
    public Outcome apply(Supplier<LandlockPolicy> policy) {
        return apply(policy, landlock == LandlockMode.OFF ? null : LandlockAbi.probe());
    }

    /** {@link #apply(Supplier)} with the kernel's Landlock answer given (null: Landlock off). */
    Outcome apply(Supplier<LandlockPolicy> policy, LandlockAbi.Probe probe) {
        if (identity != null) {
            // First: no_new_privs and the filter would not stop it, but nothing after needs root.
            identity.assume();
        }
        if (seccomp == SeccompMode.OFF && landlock == LandlockMode.OFF) {
            return new Outcome("off", "off", null, null, false, 0);
        }
        long t0 = System.nanoTime();
        Syscall.noNewPrivs();
        String ll = "off";
        String scope = null;
        LandlockPolicy applied = null;
        boolean allThreads = false;
        if (landlock != LandlockMode.OFF) {
            LandlockAbi.Probe p = probe;
            if (!p.available()) {
                if (landlock == LandlockMode.ON) {
                    throw new IllegalStateException(LANDLOCK_FLAG + " on: " + p.unavailable());
                }
                ll = "unavailable: " + p.unavailable();
            } else {
                LandlockPolicy wanted = policy.get();
                Landlock.Applied a = Landlock.apply(wanted, p.abi());
                if (a.unreliable() != null) {
                    if (landlock == LandlockMode.ON) {
                        throw new IllegalStateException(LANDLOCK_FLAG + " on: " + a.unreliable());
                    }
                    ll = "unavailable: " + a.unreliable();
                } else {
                    applied = wanted;
                    allThreads = a.allThreads();
                    ll = "on (ABI " + a.abi().version() + ", " + a.rules() + " rules)";
                    scope = a.allThreads() ? "every thread"
                            : "the thread that starts the vCPUs and every thread started after it (Landlock ABI "
                                    + a.abi().version() + " < 8 cannot confine threads already running)";
                }
            }
        }
        if (seccomp != SeccompMode.OFF) {
            SeccompFilter.install(seccomp);
            VcpuSeccompFilter.arm(seccomp); // after: a thread's own filter would make TSYNC fail
        }
        return new Outcome(seccomp.toString(), ll, scope, applied, allThreads, (System.nanoTime() - t0) / 1000);
    }
}
