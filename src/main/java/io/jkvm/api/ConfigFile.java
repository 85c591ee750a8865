package io.jkvm.api;

import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Firecracker's {@code --config-file}: one JSON document with the sections {@code boot-source},
 * {@code machine-config}, {@code drives}, {@code network-interfaces}, {@code logger},
 * {@code metrics}, {@code entropy}, {@code serial}, {@code vsock}, {@code balloon}, {@code mmds-config} and {@code cpu-config} (the shape of {@code GET /vm/config}), turned into the list of
 * {@link VmmAction}s an API client would send ({@link #actions}). {@code jkvm run --config-file}
 * hands that list to its controller, the daemon sends it to its VMMs (and validates definitions
 * by applying it to a {@link VmConfiguration} of its own), so all three share the API's checks.
 */
public final class ConfigFile {
    private ConfigFile() {}

    /** Reads {@code file}; refusals name the file and the field. */
    public static FullVmConfiguration read(Path file) {
        byte[] json;
        try {
            if (Files.size(file) > UdsHttpServer.MAX_BODY * 16L) {
                throw ApiException.badRequest(file + ": too large for a VM configuration");
            }
            json = Files.readAllBytes(file);
        } catch (IOException e) {
            throw ApiException.badRequest(file + ": cannot read: " + e.getMessage());
        }
        try {
            return Json.parse(json, FullVmConfiguration.class);
        } catch (ApiException e) {
            throw ApiException.badRequest(file + ": " + e.getMessage());
        }
    }

    /**
     * The document's sections as configuration actions, in a dependable order: logger first (so
     * it records the rest), metrics, machine, boot source, drives, network interfaces.
     */
    public static List<VmmAction.Configure> actions(FullVmConfiguration doc) {
        List<VmmAction.Configure> out = new ArrayList<>();
        if (doc.logger() != null) {
            out.add(new VmmAction.ConfigureLogger(doc.logger()));
        }
        if (doc.metrics() != null) {
            out.add(new VmmAction.ConfigureMetrics(doc.metrics()));
        }
        if (doc.machineConfig() != null) {
            out.add(new VmmAction.ConfigureMachine(doc.machineConfig()));
        }
        // After machine-config, as Firecracker (VmResources::from_json): a custom template then wins over a static one.
        if (doc.cpuConfig() != null && !doc.cpuConfig().isNull()) {
            out.add(new VmmAction.ConfigureCpu(cpuConfig(doc.cpuConfig())));
        }
        if (doc.bootSource() == null) {
            throw ApiException.badField("boot-source", "missing section 'boot-source'");
        }
        out.add(new VmmAction.ConfigureBootSource(doc.bootSource()));
        if (doc.drives() != null) {
            for (Drive d : doc.drives()) {
                if (d == null || d.driveId() == null) {
                    throw ApiException.badField("drives", "drives: every drive needs a 'drive_id'");
                }
                out.add(new VmmAction.InsertDrive(d.driveId(), d));
            }
        }
        if (doc.entropy() != null) {
            out.add(new VmmAction.ConfigureEntropy(doc.entropy()));
        }
        if (doc.serial() != null) {
            out.add(new VmmAction.ConfigureSerial(doc.serial()));
        }
        if (doc.vsock() != null) {
            out.add(new VmmAction.ConfigureVsock(doc.vsock()));
        }
        if (doc.balloon() != null) {
            out.add(new VmmAction.ConfigureBalloon(doc.balloon()));
        }
        if (doc.networkInterfaces() != null) {
            for (NetworkInterface n : doc.networkInterfaces()) {
                if (n == null || n.ifaceId() == null) {
                    throw ApiException.badField("network-interfaces",
                            "network-interfaces: every interface needs an 'iface_id'");
                }
                out.add(new VmmAction.InsertNetworkInterface(n.ifaceId(), n));
            }
        }
        if (doc.mmdsConfig() != null) {
            out.add(new VmmAction.ConfigureMmds(doc.mmdsConfig())); // after the interfaces it names
        }
        return out;
    }

    /**
     * The {@code cpu-config} section: an inline template (an object) or the path of a file holding
     * one (a string), parsed with the API's strict mapper so refusals read as a PUT /cpu-config's.
     */
    static CpuConfig cpuConfig(com.fasterxml.jackson.databind.JsonNode node) {
        byte[] json;
        if (node.isTextual()) {
            Path p = Path.of(node.asText());
            try {
                if (Files.size(p) > UdsHttpServer.MAX_BODY) {
                    throw ApiException.badField("cpu-config", "cpu-config " + p + ": too large for a CPU template");
                }
                json = Files.readAllBytes(p);
            } catch (IOException | java.nio.file.InvalidPathException e) {
                throw ApiException.badField("cpu-config", "cpu-config " + node.asText() + ": cannot read: " + e.getMessage());
            }
        } else if (node.isObject()) {
            json = Json.write(node).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        } else {
            throw ApiException.badField("cpu-config", "cpu-config: expected a CPU template object or the path of a file holding one");
        }
        try {
            return Json.parse(json, CpuConfig.class);
        } catch (ApiException e) {
            throw ApiException.badField("cpu-config", "cpu-config: " + e.getMessage());
        }
    }

    /** Configures {@code vmm} from the document, as a client sending its sections would. */
    public static void apply(FullVmConfiguration doc, VmmController vmm) {
        vmm.handleAll(actions(doc));
    }

    /**
     * Checks the document with the API's own validation against this host, without a VMM: its
     * actions applied to a fresh {@link VmConfiguration} (each file and limit checked as the API
     * checks it; nothing is opened or started).
     */
    public static void validate(FullVmConfiguration doc, HostLimits limits) {
        VmConfiguration scratch = new VmConfiguration("validate", limits, OnReboot.EXIT,
                new EventLog("validate", OutputStream.nullOutputStream(), null));
        for (VmmAction.Configure a : actions(doc)) {
            scratch.apply(a);
        }
    }
}
