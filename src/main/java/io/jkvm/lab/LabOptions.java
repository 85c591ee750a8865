package io.jkvm.lab;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * How to run a command in the lab.
 *
 * @param timeout   wall-clock limit for the whole L1 run (boot included); QEMU is killed after it.
 *                  A backstop: tests bound progress with {@code idleTimeout} instead
 * @param idleTimeout QEMU is killed when the command and L1's console produced no output for this
 *                  long (a stuck run), or null for no such limit
 * @param kernel    L1 kernel bzImage, or null for the newest /boot/vmlinuz-* with modules
 * @param memoryMib L1 memory
 * @param cpus      L1 virtual CPUs
 * @param workDir   working directory of the command (same path inside the lab)
 * @param env       the command's whole environment
 * @param shares    host directories shared writable at the same path (besides /tmp and the project)
 * @param tty       run on the serial console as a terminal (interactive) instead of over pipes
 */
public record LabOptions(Duration timeout, Duration idleTimeout, Path kernel, int memoryMib, int cpus, Path workDir,
        Map<String, String> env, List<Path> shares, boolean tty) {

    /** Environment variables passed from the caller's environment by default. */
    public static final Pattern PASSED_ENV = Pattern.compile(
            "PATH|HOME|TERM|JAVA_HOME|LANG|LC_[A-Z]+|USER|LOGNAME|TZ|JKVM_[A-Z0-9_]+");

    public LabOptions {
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("lab timeout must be positive");
        }
        if (idleTimeout != null && (idleTimeout.isNegative() || idleTimeout.isZero())) {
            throw new IllegalArgumentException("lab idle timeout must be positive");
        }
        if (memoryMib < 512 || cpus < 1) {
            throw new IllegalArgumentException("lab needs at least 512 MiB and 1 CPU");
        }
        workDir = workDir.toAbsolutePath().normalize();
        env = Map.copyOf(env);
        shares = List.copyOf(shares);
    }

    /** Defaults: 600 s, newest kernel, 4 GiB, 2 CPUs, current directory and selected environment, pipes. */
    public static LabOptions defaults() {
        Map<String, String> env = new LinkedHashMap<>();
        System.getenv().forEach((k, v) -> {
            if (PASSED_ENV.matcher(k).matches()) {
                env.put(k, v);
            }
        });
        // The lab machine has its own /dev/kvm (nested KVM): this host's device setting, which may
        // point at a missing path to simulate a host without KVM, does not apply there.
        env.remove(io.jkvm.kvm.KvmDevice.ENV);
        return new LabOptions(Duration.ofSeconds(600), null, null, 4096, 2,
                Path.of(System.getProperty("user.dir")), env, List.of(), false);
    }

    public LabOptions withTimeout(Duration t) {
        return new LabOptions(t, idleTimeout, kernel, memoryMib, cpus, workDir, env, shares, tty);
    }

    /** Kills the run when nothing is printed (command output or L1 console) for {@code idle}. */
    public LabOptions withIdleTimeout(Duration idle) {
        return new LabOptions(timeout, idle, kernel, memoryMib, cpus, workDir, env, shares, tty);
    }

    public LabOptions withKernel(Path k) {
        return new LabOptions(timeout, idleTimeout, k, memoryMib, cpus, workDir, env, shares, tty);
    }

    public LabOptions withMachine(int mib, int n) {
        return new LabOptions(timeout, idleTimeout, kernel, mib, n, workDir, env, shares, tty);
    }

    public LabOptions withWorkDir(Path d) {
        return new LabOptions(timeout, idleTimeout, kernel, memoryMib, cpus, d, env, shares, tty);
    }

    /** Adds or replaces one environment variable. */
    public LabOptions withEnv(String name, String value) {
        Map<String, String> e = new LinkedHashMap<>(env);
        e.put(name, value);
        return new LabOptions(timeout, idleTimeout, kernel, memoryMib, cpus, workDir, e, shares, tty);
    }

    public LabOptions withShares(List<Path> dirs) {
        return new LabOptions(timeout, idleTimeout, kernel, memoryMib, cpus, workDir, env, dirs, tty);
    }

    public LabOptions withTty(boolean t) {
        return new LabOptions(timeout, idleTimeout, kernel, memoryMib, cpus, workDir, env, shares, t);
    }
}
