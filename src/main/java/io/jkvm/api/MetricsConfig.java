package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.Map;

/**
 * Firecracker's {@code PUT /metrics} body: where metrics lines go, whether each line carries the
 * microVM's id ({@code emit_id}), and operator-defined {@code properties} copied onto every line.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MetricsConfig(@JsonProperty("metrics_path") String metricsPath,
                            @JsonProperty("emit_id") Boolean emitId,
                            @JsonProperty("properties") Map<String, String> properties) {
    /** At most this many properties, each key and value at most {@link #MAX_PROPERTY_CHARS} characters. */
    static final int MAX_PROPERTIES = 64;
    static final int MAX_PROPERTY_CHARS = 256;

    public MetricsConfig(String metricsPath) {
        this(metricsPath, null, null);
    }

    boolean emitsId() {
        return Boolean.TRUE.equals(emitId);
    }

    /** Refuses properties a metrics line should not carry, naming the field. */
    void checkProperties() {
        if (properties == null) {
            return;
        }
        if (properties.size() > MAX_PROPERTIES) {
            throw ApiException.badField("properties", "properties: at most " + MAX_PROPERTIES + " entries, got " + properties.size());
        }
        properties.forEach((k, v) -> {
            if (k == null || k.isEmpty() || k.length() > MAX_PROPERTY_CHARS) {
                throw ApiException.badField("properties", "properties: a key must have 1 to " + MAX_PROPERTY_CHARS + " characters");
            }
            if (v == null || v.length() > MAX_PROPERTY_CHARS) {
                throw ApiException.badField("properties", "properties." + k + ": the value must be a string of at most "
                        + MAX_PROPERTY_CHARS + " characters");
            }
        });
    }
}
