package io.jkvm.daemon.web;

import io.jkvm.daemon.DaemonException;
import io.jkvm.daemon.VmStatus;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;

/** A {@link WebBackend} without a daemon: VMs by name with a state, sockets under {@code dir}, actions recorded. */
final class FakeBackend implements WebBackend {
    private final Path dir;
    private final Map<String, String> states = new ConcurrentSkipListMap<>();
    final List<String> actions = new CopyOnWriteArrayList<>();
    /** When set, actions wait for it (an action under way, as a slow VM start). */
    volatile java.util.concurrent.CountDownLatch hold;

    FakeBackend(Path dir, String... names) {
        this.dir = dir;
        for (String n : names) {
            states.put(n, "running");
        }
    }

    private VmStatus statusOf(String name, String state) {
        return new VmStatus(name, state, 4242L, 1, 64, "vmlinux", "2026-01-01T00:00:00Z", null, null, null, null, null, null);
    }

    @Override
    public List<VmStatus> list() {
        List<VmStatus> out = new ArrayList<>();
        states.forEach((n, s) -> out.add(statusOf(n, s)));
        return out;
    }

    @Override
    public VmStatus status(String name) {
        String s = states.get(name);
        if (s == null) {
            throw DaemonException.notFound(name);
        }
        return statusOf(name, s);
    }

    @Override
    public VmStatus act(String name, String action) {
        status(name);
        actions.add(name + ":" + action);
        java.util.concurrent.CountDownLatch h = hold;
        if (h != null) {
            try {
                h.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        states.put(name, switch (action) {
            case "stop" -> "stopped";
            case "pause", "snapshot" -> "paused";
            default -> "running";
        });
        return status(name);
    }

    @Override
    public Path consoleSocket(String name) {
        status(name);
        return dir.resolve(name + ".console.sock");
    }

    @Override
    public Path vncSocket(String name) {
        status(name);
        return dir.resolve(name + ".vnc.sock");
    }
}
