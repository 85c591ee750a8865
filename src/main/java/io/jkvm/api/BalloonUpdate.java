package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's BalloonUpdate, the {@code PATCH /balloon} body: a new target ({@code amount_mib}, required). */
public record BalloonUpdate(@JsonProperty("amount_mib") Long amountMib) {
}
