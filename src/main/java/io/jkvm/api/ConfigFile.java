package io.jkvm.api;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Firecracker's {@code --config-file}: one JSON document with the sections {@code boot-source},
 * {@code machine-config}, {@code drives}, {@code network-interfaces}, {@code logger} and
 * {@code metrics} (the shape of {@code GET /vm/config}), applied through the same controller
 * calls, and so the same validation, as the API.
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

    /** Applies every section in a dependable order (logger first, so it records the rest). */
    public static void apply(FullVmConfiguration doc, VmmController vmm) {
        if (doc.logger() != null) {
            vmm.putLogger(doc.logger());
        }
        if (doc.metrics() != null) {
            vmm.putMetrics(doc.metrics());
        }
        if (doc.machineConfig() != null) {
            vmm.putMachineConfig(doc.machineConfig());
        }
        if (doc.bootSource() == null) {
            throw ApiException.badRequest("missing section 'boot-source'");
        }
        vmm.putBootSource(doc.bootSource());
        if (doc.drives() != null) {
            for (Drive d : doc.drives()) {
                if (d == null || d.driveId() == null) {
                    throw ApiException.badRequest("drives: every drive needs a 'drive_id'");
                }
                vmm.putDrive(d.driveId(), d);
            }
        }
        if (doc.networkInterfaces() != null) {
            for (NetworkInterface n : doc.networkInterfaces()) {
                if (n == null || n.ifaceId() == null) {
                    throw ApiException.badRequest("network-interfaces: every interface needs an 'iface_id'");
                }
                vmm.putNetworkInterface(n.ifaceId(), n);
            }
        }
    }
}
