package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's {@code PUT /metrics} body: where FlushMetrics appends one JSON line. */
public record MetricsConfig(@JsonProperty("metrics_path") String metricsPath) {
}
