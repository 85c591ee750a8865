package io.jkvm.vmm;

import io.jkvm.config.DeviceConfig;
import io.jkvm.resources.NanoClock;
import io.jkvm.resources.Throttle;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The rate limiters of a VM's virtio devices, made once from its configuration and kept for the
 * VM's whole life. A guest reboot builds new device models; they take the same throttles, so
 * bucket levels and the one-time burst carry over (a guest cannot earn a fresh burst by
 * rebooting), counters add up over boots like the VM's other metrics, and an update made
 * between two boots applies to the next. Keyed by virtio device id ({@code DeviceManager.virtioIds}):
 * a disk's id, and a network interface's id with "/rx" and "/tx".
 */
final class DeviceThrottles {
    private final Map<String, Throttle> byKey = new LinkedHashMap<>();

    /** {@code ids} are the virtio ids of {@code d}'s devices in slot order (disks, then interfaces first). */
    DeviceThrottles(DeviceConfig d, List<String> ids, NanoClock clock) {
        int slot = 0;
        for (var disk : d.disks()) {
            byKey.put(ids.get(slot++), new Throttle(disk.rateLimit(), clock));
        }
        for (var net : d.nets()) {
            String id = ids.get(slot++);
            byKey.put(id + "/rx", new Throttle(net.rxRateLimit(), clock));
            byKey.put(id + "/tx", new Throttle(net.txRateLimit(), clock));
        }
    }

    Throttle disk(String id) {
        return get(id);
    }

    Throttle rx(String netId) {
        return get(netId + "/rx");
    }

    Throttle tx(String netId) {
        return get(netId + "/tx");
    }

    private Throttle get(String key) {
        Throttle t = byKey.get(key);
        if (t == null) {
            throw new IllegalArgumentException("no rate limiter for device " + key);
        }
        return t;
    }

    /** Counters of every limiter that limits now or has ever made a queue wait, by key. */
    Map<String, Throttle.Stats> stats() {
        Map<String, Throttle.Stats> out = new LinkedHashMap<>();
        byKey.forEach((key, t) -> {
            Throttle.Stats s = t.stats();
            if (t.config().limits() || s.throttled() > 0) {
                out.put(key, s);
            }
        });
        return out;
    }
}
