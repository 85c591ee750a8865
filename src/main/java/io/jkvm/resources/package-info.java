/**
 * Host resource controls for guest devices: Firecracker-style token-bucket rate limiters.
 *
 * <p>{@link io.jkvm.resources.RateLimitConfig} (two {@link io.jkvm.resources.BucketConfig}s) is
 * the immutable configuration; {@link io.jkvm.resources.RateLimiter} is the pure engine on an
 * injectable {@link io.jkvm.resources.NanoClock}; {@link io.jkvm.resources.Throttle} is what a
 * device queue holds: consumed on the I/O thread, reconfigured from the API thread. Devices
 * never wait for tokens: a refused request stays queued and the device arms a timer for the time
 * {@code consume} reports (see {@code VirtioContext#kickAfter}).
 */
package io.jkvm.resources;
