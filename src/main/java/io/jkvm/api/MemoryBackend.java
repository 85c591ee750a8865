package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's {@code mem_backend} of {@code /snapshot/load}: {@code backend_type} "File" (or "Uffd") and its path. */
public record MemoryBackend(
        @JsonProperty("backend_type") String backendType,
        @JsonProperty("backend_path") String backendPath) {}
