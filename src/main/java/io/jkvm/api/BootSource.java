package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's {@code PUT /boot-source} body. Only {@code kernel_image_path} is required. */
public record BootSource(
        @JsonProperty("kernel_image_path") String kernelImagePath,
        @JsonProperty("initrd_path") String initrdPath,
        @JsonProperty("boot_args") String bootArgs) {
}
