package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's {@code PATCH /vm} body: {@code state} is "Paused" or "Resumed". */
public record VmStateChange(@JsonProperty("state") String state) {
}
