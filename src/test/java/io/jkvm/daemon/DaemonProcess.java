package io.jkvm.daemon;

import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.Patience;

import java.io.IOException;
import java.nio.file.Path;

/** A `jkvm daemon` child process for the daemon's direct-KVM tests. */
final class DaemonProcess {
    private DaemonProcess() {}

    /**
     * Starts the daemon on {@code state} and {@code socket}, stderr appended to {@code log}. Its
     * wait for each new VMM's API socket scales with the machine (Patience): JVMs starting at once
     * in the lab take longer than the daemon's default.
     */
    static Process start(Path state, Path socket, Path log, String... extra) throws IOException {
        java.util.List<String> cmd = new java.util.ArrayList<>(JkvmCommand.of("daemon", "--state-dir", state.toString(),
                "--socket", socket.toString()));
        cmd.addAll(java.util.List.of(extra));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("JKVM_VMM_START_TIMEOUT", String.valueOf(Patience.secondsOf(300)));
        return pb.redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }
}
