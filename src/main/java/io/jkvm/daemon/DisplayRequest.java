package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.config.ConfigException;
import io.jkvm.config.DisplayConfig;

/**
 * {@code "display"} in {@code POST /vms}: the VM gets a display (jkvm run's {@code --display}),
 * served by its VMM over VNC on {@code vms/NAME/vnc.sock}, which the web console bridges to
 * noVNC. Absent fields take {@link DisplayConfig#DEFAULT}'s values.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record DisplayRequest(@JsonProperty("width") Integer width, @JsonProperty("height") Integer height,
                             @JsonProperty("vram_mib") Integer vramMib) {
    /** The checked configuration; a bad value is a 400 naming the field. */
    DisplayConfig toConfig() {
        try {
            return new DisplayConfig(width == null ? DisplayConfig.DEFAULT.width() : width,
                    height == null ? DisplayConfig.DEFAULT.height() : height,
                    vramMib == null ? DisplayConfig.DEFAULT.vramBytes() : (long) vramMib << 20);
        } catch (ConfigException e) {
            throw DaemonException.badRequest(e.getMessage().replace("--display", "display"));
        }
    }

    /** The VMM's flag for it. */
    String flag() {
        DisplayConfig c = toConfig();
        return "--display=width=" + c.width() + ",height=" + c.height() + ",vram=" + (c.vramBytes() >> 20) + "M";
    }
}
