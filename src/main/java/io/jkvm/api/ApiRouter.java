package io.jkvm.api;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * The per-VM API over HTTP's shape (method + path + JSON body): {@link ActionParser} makes the
 * request a {@link VmmAction}, the {@link VmmController} carries it out, and this renders the
 * outcome: 204 on success, 200 with JSON for reads, and for a refusal its {@link ApiException}
 * as {@code {"fault_message": ...}} with the status of its kind. Transport-free, so tests and
 * property checks call {@link #handle} directly; the HTTP server is a thin shell around it.
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
            VmmAction action = ActionParser.parse(method, path, body);
            r = render(action, vmm.handle(action));
        } catch (ApiException e) {
            r = fault(e);
        } catch (RuntimeException e) {
            log.error("api_internal_error", "method", method, "path", path, "error", String.valueOf(e));
            r = fault(new ApiException(ApiException.Kind.INTERNAL, null, "internal error: " + e));
        }
        vmm.firecrackerMetrics().requests().record(method, path, r.status());
        if (r.status() >= 400) {
            faults.increment();
            log.info("api_request_refused", "method", method, "path", path, "status", r.status(), "fault_message",
                    r.json());
        } else {
            log.debug("api_request", "method", method, "path", path, "status", r.status());
        }
        return r;
    }

    /** The one rendering of a refusal: the kind's status and {@code {"fault_message": ...}}. */
    private static ApiResponse fault(ApiException e) {
        return ApiResponse.fault(e.status(), e.getMessage());
    }

    private ApiResponse render(VmmAction action, Object body) {
        if (body == null) {
            return ApiResponse.NO_CONTENT;
        }
        if (body instanceof ApiResponse.Image image) {
            return ApiResponse.png(image.png());
        }
        if (action instanceof VmmAction.GetMetrics && body instanceof Map<?, ?> line) {
            // The API's own counters belong to the server, not the VM.
            Map<Object, Object> withApi = new LinkedHashMap<>(line);
            withApi.put("api", Map.of("requests", requests.sum(), "faults", faults.sum()));
            body = withApi;
        }
        return ApiResponse.ok(Json.write(body));
    }
}
