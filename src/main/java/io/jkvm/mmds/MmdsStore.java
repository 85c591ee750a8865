package io.jkvm.mmds;

import com.fasterxml.jackson.core.JsonPointer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One VM's metadata store: a JSON document, set whole ({@link #put}) or by merge patch
 * ({@link #patch}), never larger than its limit (the compact JSON's UTF-8 bytes), plus the
 * guest-facing settings ({@link MmdsVersion}, IMDS compatibility) and the session tokens.
 * Objects are kept with their keys sorted, as Firecracker's store lists them. Stored nodes are
 * never modified (an update builds a new tree), so a reader sees the old or the new document,
 * whole. Thread-safe.
 */
public final class MmdsStore {
    private static final ObjectMapper COMPACT = new ObjectMapper();

    private final MmdsTokens tokens = new MmdsTokens();
    private JsonNode data; // null until the first PUT
    private long limit;
    private MmdsVersion version = MmdsVersion.V1;
    private boolean imdsCompat;

    /** A store of at most {@code limit} bytes. */
    public MmdsStore(long limit) {
        setLimit(limit);
    }

    public synchronized void setLimit(long limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("negative MMDS size limit " + limit);
        }
        this.limit = limit;
    }

    public synchronized long limit() {
        return limit;
    }

    /** Replaces the document ({@code PUT /mmds}). */
    public synchronized void put(JsonNode value) {
        JsonNode v = sorted(value);
        checkSize(v);
        data = v;
    }

    /** Merges {@code patch} into the document (RFC 7396, {@code PATCH /mmds}); refused before any PUT. */
    public synchronized void patch(JsonNode patch) {
        if (data == null) {
            throw new MmdsException(MmdsException.Reason.NOT_INITIALIZED, "The MMDS data store is not initialized.");
        }
        JsonNode v = sorted(JsonMergePatch.apply(data, patch));
        checkSize(v);
        data = v;
    }

    private void checkSize(JsonNode v) {
        long size = compact(v).length;
        if (size > limit) {
            throw new MmdsException(MmdsException.Reason.TOO_LARGE, "The MMDS data store would be " + size
                    + " bytes, more than its limit of " + limit + " bytes (--mmds-size-limit).");
        }
    }

    /** The document, or null before the first PUT. Callers must not modify it. */
    public synchronized JsonNode value() {
        return data;
    }

    public synchronized void configure(MmdsVersion version, boolean imdsCompat) {
        this.version = version;
        this.imdsCompat = imdsCompat;
    }

    public synchronized MmdsVersion version() {
        return version;
    }

    public synchronized boolean imdsCompat() {
        return imdsCompat;
    }

    public MmdsTokens tokens() {
        return tokens;
    }

    /**
     * The node a guest's request path names, or null when there is none: repeated slashes count
     * as one, a trailing slash is ignored, the rest is a JSON pointer (RFC 6901) into the document.
     */
    public synchronized JsonNode lookup(String path) {
        if (data == null) {
            return null;
        }
        String p = path;
        while (p.contains("//")) {
            p = p.replace("//", "/");
        }
        if (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        if (!p.isEmpty() && !p.startsWith("/")) {
            return null;
        }
        try {
            JsonNode n = data.at(JsonPointer.compile(p));
            return n.isMissingNode() ? null : n;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The compact JSON text of {@code v}, UTF-8. */
    public static byte[] compact(JsonNode v) {
        try {
            return COMPACT.writeValueAsString(v).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize the MMDS document", e);
        }
    }

    /** A copy of {@code v} with every object's keys in order. */
    static JsonNode sorted(JsonNode v) {
        if (v.isObject()) {
            List<String> keys = new ArrayList<>();
            v.fieldNames().forEachRemaining(keys::add);
            keys.sort(null);
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            for (String k : keys) {
                o.set(k, sorted(v.get(k)));
            }
            return o;
        }
        if (v.isArray()) {
            ArrayNode a = JsonNodeFactory.instance.arrayNode();
            for (JsonNode e : v) {
                a.add(sorted(e));
            }
            return a;
        }
        return v.deepCopy();
    }
}
