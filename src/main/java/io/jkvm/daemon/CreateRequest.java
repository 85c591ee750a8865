package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.api.FullVmConfiguration;

/** {@code POST /vms}: a name and a Firecracker-format configuration (as {@code --config-file}). */
public record CreateRequest(@JsonProperty("name") String name, @JsonProperty("config") FullVmConfiguration config) {
}
