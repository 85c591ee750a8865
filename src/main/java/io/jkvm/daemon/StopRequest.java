package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonProperty;

/** {@code POST /vms/NAME/stop}: how long the guest gets after Ctrl+Alt+Del before SIGKILL. */
public record StopRequest(@JsonProperty("timeout_ms") Long timeoutMs) {
}
