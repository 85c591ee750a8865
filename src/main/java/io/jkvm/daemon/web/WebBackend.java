package io.jkvm.daemon.web;

import io.jkvm.daemon.VmStatus;

import java.nio.file.Path;
import java.util.List;

/**
 * What the web console needs from the daemon: its VMs, the operations it already has, and where
 * each VM's console and display sockets are. An interface so the web server, its access rules and
 * its bridges are tested without VMs (a stand-in serves the sockets).
 */
public interface WebBackend {
    /** The actions the pages offer, each one an existing daemon operation. */
    List<String> ACTIONS = List.of("start", "stop", "pause", "resume", "snapshot");

    List<VmStatus> list();

    /** @throws io.jkvm.daemon.DaemonException 404 when there is no such VM */
    VmStatus status(String name);

    /**
     * Runs one of {@link #ACTIONS} on VM {@code name} and returns its new status.
     *
     * @throws io.jkvm.daemon.DaemonException naming why it was refused or failed
     */
    VmStatus act(String name, String action);

    Path consoleSocket(String name);

    Path vncSocket(String name);
}
