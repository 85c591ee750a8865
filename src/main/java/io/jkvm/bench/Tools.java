package io.jkvm.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Host programs the benchmark runs: finding them and running them to completion. */
final class Tools {
    static final String QEMU = "qemu-system-x86_64";

    private Tools() {}

    static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    /** Runs {@code cmd} in {@code dir}; returns its output, or throws with the output if it fails. */
    static String run(Path dir, List<String> cmd, long timeoutSeconds) throws IOException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        // Read on another thread: a program that hangs with its output open must still meet the timeout.
        var output = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        }, r -> Thread.ofPlatform().daemon().start(r));
        try {
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + ": timed out after " + timeoutSeconds + " s");
            }
            String out = output.join();
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "): " + out.strip());
            }
            return out;
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Reads {@code out} up to the byte {@code want}; throws, naming {@code who}, if the process ends first. */
    static void awaitByte(InputStream out, int want, Process p, String who) throws IOException, InterruptedException {
        for (int b; (b = out.read()) != want; ) {
            if (b < 0) {
                throw new IOException(who + " ended before the guest said '" + (char) want + "' (exit " + p.waitFor() + ")");
            }
        }
    }

    /** Keeps reading {@code out} in the background: a full pipe would stall the guest writing to it. */
    static void drain(InputStream out) {
        Thread.ofPlatform().daemon().start(() -> {
            try {
                out.transferTo(java.io.OutputStream.nullOutputStream());
            } catch (IOException e) {
                // the process went away
            }
        });
    }
}
