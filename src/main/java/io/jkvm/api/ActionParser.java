package io.jkvm.api;

import io.jkvm.api.VmmAction.*;

/**
 * The one place an API request (method + path + JSON body) becomes a {@link VmmAction}. Bodies
 * are parsed with the strict {@link Json} mapper; {@code PUT /actions} and {@code PATCH /vm}
 * become the action they name. Refusals are typed: an unknown path is {@link ApiException.Kind#NOT_FOUND}
 * (404), a known path with a method it does not serve is a 400 with Firecracker's wording
 * ("Invalid request method and/or path"), a bad body a 400 naming the field.
 */
public final class ActionParser {
    private static final String DRIVES = "/drives/";
    private static final String NICS = "/network-interfaces/";

    private ActionParser() {}

    public static VmmAction parse(String method, String path, byte[] body) {
        String p = path == null ? "" : path;
        if (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        String m = method == null ? "" : method;
        return switch (p) {
            case "/", "" -> only(m, p, "GET", new GetInstanceInfo());
            case "/version" -> only(m, p, "GET", new GetVersion());
            case "/boot-source" -> {
                requireMethod(m, p, "PUT");
                yield new ConfigureBootSource(Json.parse(body, BootSource.class));
            }
            case "/entropy" -> only(m, p, "PUT", new ConfigureEntropy(Json.parse(body, EntropyDevice.class)));
            case "/serial" -> only(m, p, "PUT", new ConfigureSerial(Json.parse(body, SerialConfig.class)));
            case "/vsock" -> only(m, p, "PUT", new ConfigureVsock(Json.parse(body, VsockDevice.class)));
            case "/balloon" -> switch (m) {
                case "GET" -> new GetBalloonConfig();
                case "PUT" -> new ConfigureBalloon(Json.parse(body, BalloonDevice.class));
                case "PATCH" -> new UpdateBalloon(Json.parse(body, BalloonUpdate.class));
                default -> throw badMethod(m, p);
            };
            case "/balloon/statistics" -> switch (m) {
                case "GET" -> new GetBalloonStats();
                case "PATCH" -> new UpdateBalloonStatistics(Json.parse(body, BalloonStatsUpdate.class));
                default -> throw badMethod(m, p);
            };
            case "/cpu-config" -> {
                requireMethod(m, p, "PUT");
                yield new ConfigureCpu(Json.parse(body, CpuConfig.class));
            }
            case "/machine-config" -> switch (m) {
                case "GET" -> new GetMachineConfig();
                case "PUT" -> new ConfigureMachine(Json.parse(body, MachineConfiguration.class));
                case "PATCH" -> new UpdateMachine(nonEmptyPatch(Json.parse(body, MachineConfiguration.class)));
                default -> throw badMethod(m, p);
            };
            case "/actions" -> {
                requireMethod(m, p, "PUT");
                yield instanceAction(Json.parse(body, InstanceActionInfo.class));
            }
            case "/vm" -> {
                requireMethod(m, p, "PATCH");
                yield stateChange(Json.parse(body, VmStateChange.class));
            }
            case "/vm/config" -> only(m, p, "GET", new GetVmConfig());
            case "/vm/screenshot" -> only(m, p, "GET", new GetScreenshot());
            case "/logger" -> {
                requireMethod(m, p, "PUT");
                yield new ConfigureLogger(Json.parse(body, LoggerConfig.class));
            }
            case "/metrics" -> {
                requireMethod(m, p, "PUT");
                yield new ConfigureMetrics(Json.parse(body, MetricsConfig.class));
            }
            case "/migrate" -> switch (m) {
                case "PUT" -> new StartMigration(Json.parse(body, MigrateRequest.class));
                case "GET" -> new GetMigrationStatus();
                default -> throw badMethod(m, p);
            };
            case "/migrate/cancel" -> only(m, p, "PUT", new CancelMigration());
            case "/snapshot/create" -> {
                requireMethod(m, p, "PUT");
                yield new CreateSnapshot(Json.parse(body, SnapshotCreateParams.class));
            }
            case "/snapshot/load" -> {
                requireMethod(m, p, "PUT");
                yield new LoadSnapshot(Json.parse(body, SnapshotLoadParams.class));
            }
            case "/mmds" -> switch (m) {
                case "GET" -> new GetMmds();
                case "PUT" -> new PutMmds(Json.parse(body, com.fasterxml.jackson.databind.JsonNode.class));
                case "PATCH" -> new PatchMmds(Json.parse(body, com.fasterxml.jackson.databind.JsonNode.class));
                default -> throw badMethod(m, p);
            };
            case "/mmds/config" -> only(m, p, "PUT", new ConfigureMmds(Json.parse(body, MmdsConfig.class)));
            case "/jkvm/vcpus" -> only(m, p, "GET", new GetVcpuReport());
            case "/jkvm/metrics" -> only(m, p, "GET", new GetMetrics());
            default -> withId(m, p, body);
        };
    }

    /** {@code PUT /actions}: the action_type, as its action. */
    static VmmAction instanceAction(InstanceActionInfo a) {
        if (a.actionType() == null) {
            throw ApiException.badField("action_type", "missing field 'action_type'");
        }
        return switch (a.actionType()) {
            case "InstanceStart" -> new InstanceStart();
            case "SendCtrlAltDel" -> new SendCtrlAltDel();
            case "FlushMetrics" -> new FlushMetrics();
            default -> throw ApiException.badField("action_type", "action_type '" + a.actionType()
                    + "': not one of InstanceStart, SendCtrlAltDel, FlushMetrics");
        };
    }

    /** {@code PATCH /vm}: the state, as Pause or Resume. */
    static VmmAction stateChange(VmStateChange change) {
        if (change.state() == null) {
            throw ApiException.badField("state", "missing field 'state'");
        }
        return switch (change.state()) {
            case "Paused" -> new Pause();
            case "Resumed" -> new Resume();
            default -> throw ApiException.badField("state", "state '" + change.state() + "': not one of Paused, Resumed");
        };
    }

    private static VmmAction withId(String m, String p, byte[] body) {
        if (p.startsWith(DRIVES) && p.indexOf('/', DRIVES.length()) < 0) {
            String id = p.substring(DRIVES.length());
            return switch (m) {
                case "PUT" -> new InsertDrive(id, Json.parse(body, Drive.class));
                case "PATCH" -> new UpdateDrive(id, Json.parse(body, DriveUpdate.class));
                default -> throw badMethod(m, p);
            };
        }
        if (p.startsWith(NICS) && p.indexOf('/', NICS.length()) < 0) {
            String id = p.substring(NICS.length());
            return switch (m) {
                case "PUT" -> new InsertNetworkInterface(id, Json.parse(body, NetworkInterface.class));
                case "PATCH" -> new UpdateNetworkInterface(id, Json.parse(body, NetworkInterfaceUpdate.class));
                default -> throw badMethod(m, p);
            };
        }
        String unsupported = unsupportedFirecrackerResource(p);
        if (unsupported != null) {
            throw ApiException.badRequest(abbreviate(m) + " " + abbreviate(p) + ": " + unsupported
                    + " is part of Firecracker's API that jkvm does not offer yet");
        }
        throw ApiException.notFound("no such endpoint: " + abbreviate(m) + " " + abbreviate(p)
                + " (Invalid request method and/or path)");
    }

    /**
     * Resources of Firecracker's API (its swagger, 1.17) jkvm does not serve yet, by path: a
     * client gets a 400 saying exactly that, as Firecracker answers what it cannot do, instead of
     * the 404 of a path no Firecracker knows. Null for any other path.
     */
    static String unsupportedFirecrackerResource(String p) {
        if (p.startsWith("/balloon/hinting/")) {
            return "free page hinting of the balloon";
        }
        if (p.startsWith("/pmem/")) {
            return "virtio-pmem";
        }
        if (p.equals("/hotplug/memory")) {
            return "memory hot-plug (virtio-mem)";
        }
        return null;
    }

    private static VmmAction only(String m, String p, String allowed, VmmAction a) {
        requireMethod(m, p, allowed);
        return a;
    }

    private static void requireMethod(String m, String p, String allowed) {
        if (!m.equals(allowed)) {
            throw badMethod(m, p);
        }
    }

    private static ApiException badMethod(String m, String p) {
        return ApiException.badRequest("Invalid request method and/or path: " + abbreviate(m) + " " + abbreviate(p));
    }

    private static String abbreviate(String s) {
        return s.length() > 100 ? s.substring(0, 100) + "..." : s;
    }

    /** A PATCH that changes nothing is refused as Firecracker refuses it (parsed_request.rs). */
    private static MachineConfiguration nonEmptyPatch(MachineConfiguration m) {
        if (m.equals(new MachineConfiguration(null, null, null, null, null, null))) {
            throw ApiException.badRequest("Empty PATCH request.");
        }
        return m;
    }
}
