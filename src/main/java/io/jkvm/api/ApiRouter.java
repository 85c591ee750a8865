package io.jkvm.api;

import io.jkvm.vmm.diag.ReportJson;
import io.jkvm.vmm.diag.ReportSignal;

import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Maps Firecracker's API (method + path + JSON body) onto the {@link VmmController}: parsing
 * with the strict {@link Json} mapper, answering 204 on success, 200 with JSON for reads, and a
 * 4xx with {@code fault_message} for anything refused. Transport-free, so tests and property
 * checks call {@link #handle} directly; the HTTP server is a thin shell around it.
 *
 * <p>Never throws: a bug that escapes as an unexpected exception becomes a 500 with its message
 * rather than a dropped connection, and the VMM keeps serving.
 */
public final class ApiRouter {
    private final VmmController vmm;
    private final EventLog log;
    private final LongAdder requests = new LongAdder();
    private final LongAdder faults = new LongAdder();

    public ApiRouter(VmmController vmm, EventLog log) {
        this.vmm = vmm;
        this.log = log;
    }

    public long requestCount() {
        return requests.sum();
    }

    public long faultCount() {
        return faults.sum();
    }

    public ApiResponse handle(String method, String path, byte[] body) {
        requests.increment();
        ApiResponse r;
        try {
            r = route(method, path == null ? "" : path, body);
        } catch (ApiException e) {
            r = ApiResponse.fault(e.status(), e.getMessage());
        } catch (RuntimeException e) {
            log.error("api_internal_error", "method", method, "path", path, "error", String.valueOf(e));
            r = ApiResponse.fault(500, "internal error: " + e);
        }
        if (r.status() >= 400) {
            faults.increment();
            log.info("api_request_refused", "method", method, "path", path, "status", r.status(), "fault_message",
                    r.json());
        } else {
            log.debug("api_request", "method", method, "path", path, "status", r.status());
        }
        return r;
    }

    private ApiResponse route(String method, String path, byte[] body) {
        if (path.length() > 1 && path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        switch (path) {
            case "/", "" -> {
                if (method.equals("GET")) {
                    return ApiResponse.ok(Json.write(vmm.instanceInfo()));
                }
            }
            case "/version" -> {
                if (method.equals("GET")) {
                    return ApiResponse.ok(Json.write(Map.of("firecracker_version", VmmController.VERSION)));
                }
            }
            case "/boot-source" -> {
                if (method.equals("PUT")) {
                    vmm.putBootSource(Json.parse(body, BootSource.class));
                    return ApiResponse.NO_CONTENT;
                }
            }
            case "/machine-config" -> {
                switch (method) {
                    case "GET" -> {
                        return ApiResponse.ok(Json.write(vmm.machineConfig()));
                    }
                    case "PUT" -> {
                        vmm.putMachineConfig(Json.parse(body, MachineConfiguration.class));
                        return ApiResponse.NO_CONTENT;
                    }
                    case "PATCH" -> {
                        vmm.patchMachineConfig(Json.parse(body, MachineConfiguration.class));
                        return ApiResponse.NO_CONTENT;
                    }
                    default -> { }
                }
            }
            case "/actions" -> {
                if (method.equals("PUT")) {
                    vmm.action(Json.parse(body, InstanceActionInfo.class));
                    return ApiResponse.NO_CONTENT;
                }
            }
            case "/vm" -> {
                if (method.equals("PATCH")) {
                    vmm.changeState(Json.parse(body, VmStateChange.class));
                    return ApiResponse.NO_CONTENT;
                }
            }
            case "/vm/config" -> {
                if (method.equals("GET")) {
                    return ApiResponse.ok(Json.write(vmm.fullConfig()));
                }
            }
            case "/logger" -> {
                if (method.equals("PUT")) {
                    vmm.putLogger(Json.parse(body, LoggerConfig.class));
                    return ApiResponse.NO_CONTENT;
                }
            }
            case "/metrics" -> {
                if (method.equals("PUT")) {
                    vmm.putMetrics(Json.parse(body, MetricsConfig.class));
                    return ApiResponse.NO_CONTENT;
                }
            }
            case "/migrate" -> {
                switch (method) {
                    case "PUT" -> {
                        vmm.startMigration(Json.parse(body, MigrateRequest.class));
                        return ApiResponse.NO_CONTENT;
                    }
                    case "GET" -> {
                        return ApiResponse.ok(Json.write(vmm.migrationStatus()));
                    }
                    default -> { }
                }
            }
            case "/migrate/cancel" -> {
                if (method.equals("PUT")) {
                    vmm.cancelMigration();
                    return ApiResponse.NO_CONTENT;
                }
            }
            case "/snapshot/create" -> {
                if (method.equals("PUT")) {
                    vmm.createSnapshot(Json.parse(body, SnapshotCreateParams.class));
                    return ApiResponse.NO_CONTENT;
                }
            }
            case "/snapshot/load" -> {
                if (method.equals("PUT")) {
                    vmm.loadSnapshot(Json.parse(body, SnapshotLoadParams.class));
                    return ApiResponse.NO_CONTENT;
                }
            }
            case "/jkvm/vcpus" -> {
                if (method.equals("GET")) {
                    try {
                        return ApiResponse.ok(Json.write(ReportJson.of(vmm.vcpuReport(ReportSignal.ANSWER_TIMEOUT))));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw ApiException.badRequest("interrupted while gathering the vCPU report");
                    }
                }
            }
            case "/jkvm/metrics" -> {
                if (method.equals("GET")) {
                    Map<String, Object> line = new java.util.LinkedHashMap<>(vmm.metricsLine());
                    line.put("api", Map.of("requests", requests.sum(), "faults", faults.sum()));
                    return ApiResponse.ok(Json.write(line));
                }
            }
            default -> {
                ApiResponse r = routeWithId(method, path, body);
                if (r != null) {
                    return r;
                }
            }
        }
        throw ApiException.badRequest("Invalid request method and/or path: " + method + " " + abbreviate(path));
    }

    private ApiResponse routeWithId(String method, String path, byte[] body) {
        if (path.startsWith("/drives/") && path.indexOf('/', 8) < 0) {
            String id = path.substring(8);
            switch (method) {
                case "PUT" -> vmm.putDrive(id, Json.parse(body, Drive.class));
                case "PATCH" -> vmm.patchDrive(id, Json.parse(body, DriveUpdate.class));
                default -> {
                    return null;
                }
            }
            return ApiResponse.NO_CONTENT;
        }
        if (path.startsWith("/network-interfaces/") && path.indexOf('/', 20) < 0) {
            String id = path.substring(20);
            switch (method) {
                case "PUT" -> vmm.putNetworkInterface(id, Json.parse(body, NetworkInterface.class));
                case "PATCH" -> vmm.patchNetworkInterface(id, Json.parse(body, NetworkInterfaceUpdate.class));
                default -> {
                    return null;
                }
            }
            return ApiResponse.NO_CONTENT;
        }
        return null;
    }

    private static String abbreviate(String s) {
        return s.length() > 100 ? s.substring(0, 100) + "..." : s;
    }
}
