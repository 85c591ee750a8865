package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /entropy} body (EntropyDeviceConfig): a virtio-rng device (virtio 1.2
 * §5.4) whose requests are filled from the host's SecureRandom, with an optional rate limiter.
 */
public record EntropyDevice(@JsonProperty("rate_limiter") RateLimiter rateLimiter) {
}
