package io.jkvm.labtests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The tier's results across lab machines ({@link KvmTierInLabTest}): each machine's JSON lines
 * (a START line and an end line per test method, {@code "retry": true} on the tier's own retry of
 * a failure) merged into one outcome per test, and which methods the next machine must still run.
 * A retry's outcome replaces the first try's (keeping its failure as {@code first_failure}).
 */
final class TierRecords {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final List<JsonNode> finished = new ArrayList<>();
    private final Set<String> done = new LinkedHashSet<>();
    private final Map<String, Integer> at = new HashMap<>();
    private final List<String> retried = new ArrayList<>();
    /** Failed in a machine that died before the tier's own retry of them: the next machine's run is their retry. */
    private final Set<String> retryNext = new LinkedHashSet<>();
    private int machineStart;

    /** One machine's lines; returns the methods it started and did not finish (in flight when it ended). */
    Set<String> machine(List<String> lines) {
        machineStart = finished.size();
        Set<String> started = new LinkedHashSet<>();
        for (String line : lines) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode t;
            try {
                t = JSON.readTree(line);
            } catch (IOException e) {
                throw new UncheckedIOException("tier result line: " + line, e);
            }
            String method = t.path("method").asText("");
            String name = t.path("name").asText();
            if ("STARTED".equals(t.path("status").asText())) {
                started.add(method);
                continue;
            }
            boolean secondTry = t.path("retry").asBoolean() || retryNext.remove(name);
            Integer earlier = secondTry ? at.get(name) : null;
            if (earlier != null && !List.of("PASSED", "FAILED").contains(t.path("status").asText())) {
                if (!method.isEmpty()) {
                    done.add(method);
                }
                continue; // skipped on retry: the first try's failure stands
            }
            if (earlier != null) {
                if (!method.isEmpty()) {
                    done.add(method); // a retry in a later machine: finished now
                }
                JsonNode first = finished.get(earlier);
                ((ObjectNode) t).put("first_failure", first.path("message").asText());
                finished.set(earlier, t);
                if ("PASSED".equals(t.path("status").asText())) {
                    retried.add(name);
                }
                continue;
            }
            at.put(name, finished.size());
            finished.add(t);
            if (!method.isEmpty()) {
                done.add(method);
            }
        }
        started.removeAll(done);
        return started;
    }

    /**
     * The last machine died (the tier retries failures at its end, which it did not reach): what
     * failed there and was not retried yet runs again in the next machine, as its retry.
     */
    void machineDied() {
        for (int i = machineStart; i < finished.size(); i++) {
            JsonNode t = finished.get(i);
            if ("FAILED".equals(t.path("status").asText()) && !t.has("first_failure") && !t.path("method").asText("").isEmpty()) {
                done.remove(t.path("method").asText());
                retryNext.add(t.path("name").asText());
            }
        }
    }

    /** Counts as finished: not run again (a test in flight at two deaths). */
    void giveUp(String method) {
        done.add(method);
    }

    /** The methods the next machine leaves out (its skip file). */
    Set<String> done() {
        return Set.copyOf(done);
    }

    List<JsonNode> finished() {
        return finished;
    }

    /** Tests that passed on their retry after failing once. */
    List<String> retried() {
        return retried;
    }

    int size() {
        return finished.size();
    }
}
