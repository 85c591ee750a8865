package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.api.FullVmConfiguration;

/**
 * {@code POST /vms}: a name, a Firecracker-format configuration (as {@code --config-file}) and the
 * optional host {@code tuning} (pinning, real-time class, locked RAM, halt polling, KSM) and
 * {@code virtio_transport} ({@code "pci"}, the default, or {@code "mmio"}, as jkvm run's flag), and
 * an optional {@code display} ({@link DisplayRequest}).
 */
public record CreateRequest(@JsonProperty("name") String name, @JsonProperty("config") FullVmConfiguration config,
                            @JsonProperty("tuning") io.jkvm.resources.VmTuning tuning,
                            @JsonProperty("virtio_transport") String virtioTransport,
                            @JsonProperty("display") DisplayRequest display) {
}
