package io.jkvm.lab;

import java.time.Duration;

/**
 * What a lab run produced.
 *
 * @param exitCode    the command's exit status; {@link Lab#EXIT_TIMEOUT} or {@link Lab#EXIT_LAB_FAILURE}
 *                    when the lab itself failed (then {@code error} says why)
 * @param stdout      the command's standard output (empty in tty mode, where it went to the terminal)
 * @param stderr      the command's standard error
 * @param error       why the lab failed, or null
 * @param console     L1's serial console and QEMU's messages (boot noise, for diagnosis)
 * @param boot        from starting QEMU to the command's start in L1 (null if it never started)
 * @param total       from starting QEMU to its exit
 */
public record LabResult(int exitCode, String stdout, String stderr, String error, String console,
        Duration boot, Duration total) {

    /** Standard output followed by standard error. */
    public String output() {
        return stdout + stderr;
    }

    public boolean labFailed() {
        return error != null;
    }
}
