package io.jkvm.api;

import io.jkvm.api.VmmAction.*;

import java.util.Map;

/**
 * An action as the API request that carries it: the inverse of {@link ActionParser}, for clients
 * of a VMM's API (the daemon) so they send typed actions instead of hand-written JSON. For every
 * action, {@code ActionParser.parse(r.method(), r.path(), r.body())} gives it back.
 */
public record ActionRequest(String method, String path, String body) {

    public static ActionRequest of(VmmAction action) {
        return switch (action) {
            case ConfigureBootSource a -> put("/boot-source", a.bootSource());
            case ConfigureMachine a -> put("/machine-config", a.machine());
            case UpdateMachine a -> new ActionRequest("PATCH", "/machine-config", Json.write(a.patch()));
            case InsertDrive a -> put("/drives/" + a.pathId(), a.drive());
            case InsertNetworkInterface a -> put("/network-interfaces/" + a.pathId(), a.nic());
            case ConfigureLogger a -> put("/logger", a.logger());
            case ConfigureMetrics a -> put("/metrics", a.metrics());
            case ConfigureEntropy a -> put("/entropy", a.entropy());
            case ConfigureVsock a -> put("/vsock", a.vsock());
            case ConfigureCpu a -> put("/cpu-config", a.cpuConfig());
            case ConfigureSerial a -> put("/serial", a.serial());
            case ConfigureMmds a -> put("/mmds/config", a.mmds());
            case PutMmds a -> put("/mmds", a.value());
            case PatchMmds a -> new ActionRequest("PATCH", "/mmds", Json.write(a.patch()));
            case ConfigureBalloon a -> put("/balloon", a.balloon());
            case UpdateBalloon a -> new ActionRequest("PATCH", "/balloon", Json.write(a.update()));
            case UpdateBalloonStatistics a -> new ActionRequest("PATCH", "/balloon/statistics", Json.write(a.update()));
            case GetBalloonStats _ -> get("/balloon/statistics");
            case GetBalloonConfig _ -> get("/balloon");
            case UpdateDrive a -> new ActionRequest("PATCH", "/drives/" + a.pathId(), Json.write(a.update()));
            case UpdateNetworkInterface a -> new ActionRequest("PATCH", "/network-interfaces/" + a.pathId(),
                    Json.write(a.update()));
            case InstanceStart _ -> instanceAction("InstanceStart");
            case SendCtrlAltDel _ -> instanceAction("SendCtrlAltDel");
            case FlushMetrics _ -> instanceAction("FlushMetrics");
            case Pause _ -> new ActionRequest("PATCH", "/vm", Json.write(new VmStateChange("Paused")));
            case Resume _ -> new ActionRequest("PATCH", "/vm", Json.write(new VmStateChange("Resumed")));
            case CreateSnapshot a -> put("/snapshot/create", a.params());
            case LoadSnapshot a -> put("/snapshot/load", a.params());
            case StartMigration a -> put("/migrate", a.request());
            case CancelMigration _ -> new ActionRequest("PUT", "/migrate/cancel", null);
            case GetInstanceInfo _ -> get("/");
            case GetVersion _ -> get("/version");
            case GetMachineConfig _ -> get("/machine-config");
            case GetVmConfig _ -> get("/vm/config");
            case GetScreenshot _ -> get("/vm/screenshot");
            case GetMigrationStatus _ -> get("/migrate");
            case GetMmds _ -> get("/mmds");
            case GetVcpuReport _ -> get("/jkvm/vcpus");
            case GetMetrics _ -> get("/jkvm/metrics");
        };
    }

    private static ActionRequest put(String path, Object body) {
        return new ActionRequest("PUT", path, Json.write(body));
    }

    private static ActionRequest get(String path) {
        return new ActionRequest("GET", path, null);
    }

    private static ActionRequest instanceAction(String type) {
        return new ActionRequest("PUT", "/actions", Json.write(Map.of("action_type", type)));
    }

    public byte[] bodyBytes() {
        return body == null ? null : body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
