package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.api.FullVmConfiguration;

/**
 * A defined VM as stored in {@code vms/NAME/vm.json}: its name and the Firecracker-format
 * configuration its VMM is given through the API at each start; {@code uid}, the user its VMM
 * runs as when the daemon gives each VM its own (null: the daemon's user); {@code virtio_transport},
 * where its virtio devices go ({@code "pci"} or {@code "mmio"}; null: PCI, as for definitions
 * stored before the field existed); {@code display}, its display (null: none).
 */
public record VmDefinition(
        @JsonProperty("name") String name,
        @JsonProperty("config") FullVmConfiguration config,
        @JsonProperty("created_at") String createdAt,
        @JsonProperty("tuning") io.jkvm.resources.VmTuning tuning,
        @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
        @JsonProperty("uid") Integer uid,
        @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
        @JsonProperty("virtio_transport") String virtioTransport,
        @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
        @JsonProperty("display") DisplayRequest display) {

    public VmDefinition(String name, FullVmConfiguration config, String createdAt) {
        this(name, config, createdAt, null, null, null, null);
    }

    public VmDefinition(String name, FullVmConfiguration config, String createdAt, io.jkvm.resources.VmTuning tuning,
            Integer uid) {
        this(name, config, createdAt, tuning, uid, null, null);
    }

    public VmDefinition(String name, FullVmConfiguration config, String createdAt, io.jkvm.resources.VmTuning tuning,
            Integer uid, String virtioTransport) {
        this(name, config, createdAt, tuning, uid, virtioTransport, null);
    }
}
