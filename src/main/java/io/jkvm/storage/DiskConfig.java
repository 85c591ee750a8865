package io.jkvm.storage;

import io.jkvm.config.ConfigException;
import io.jkvm.config.OptionList;
import io.jkvm.resources.RateLimitConfig;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * One {@code --disk path=FILE[,format=raw|qcow2][,readonly=on][,id=NAME]}: an image and its
 * format (stated, never probed: see {@link DiskFormat}; raw by default), whether the guest may
 * write it, the id reported as the virtio-blk serial (GET_ID, at most 20 ASCII bytes), and its
 * rate limits (the API's drive {@code rate_limiter}; unlimited from the command line). A qcow2
 * image's backing files must lie in its own directory ({@link BackingPolicy#TOP_DIRECTORY}).
 */
public record DiskConfig(Path path, boolean readOnly, String id, RateLimitConfig rateLimit, DiskFormat format) {
    public static final int MAX_ID = 20;

    /** An unlimited raw disk. */
    public DiskConfig(Path path, boolean readOnly, String id) {
        this(path, readOnly, id, RateLimitConfig.UNLIMITED, DiskFormat.RAW);
    }

    /** A raw disk. */
    public DiskConfig(Path path, boolean readOnly, String id, RateLimitConfig rateLimit) {
        this(path, readOnly, id, rateLimit, DiskFormat.RAW);
    }

    public DiskConfig {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(rateLimit, "rateLimit");
        Objects.requireNonNull(format, "format");
        if (id != null) {
            if (id.isEmpty() || id.length() > MAX_ID) {
                throw new ConfigException("--disk: field 'id' must be 1.." + MAX_ID + " characters: '" + id + "'");
            }
            for (char ch : id.toCharArray()) {
                if (ch < 0x21 || ch > 0x7e) {
                    throw new ConfigException("--disk: field 'id' must be printable ASCII without spaces: '" + id + "'");
                }
            }
        }
    }

    /** Parses the {@code --disk} argument. */
    public static DiskConfig parse(String text) {
        Map<String, String> kv = OptionList.parse("--disk", text, Set.of("path", "readonly", "id", "format"));
        String path = kv.get("path");
        if (path == null) {
            throw new ConfigException("--disk: field 'path' is required");
        }
        boolean ro = kv.containsKey("readonly") && OptionList.flag("--disk", "readonly", kv.get("readonly"));
        DiskFormat format = kv.containsKey("format") ? DiskFormat.parse("--disk: field 'format'", kv.get("format"))
                : DiskFormat.RAW;
        return new DiskConfig(Path.of(path), ro, kv.get("id"), RateLimitConfig.UNLIMITED, format);
    }

    /** The same disk with another image file (a media change keeps the drive's format). */
    public DiskConfig withPath(Path next) {
        return new DiskConfig(next, readOnly, id, rateLimit, format);
    }

    /** The same disk with other rate limits. */
    public DiskConfig withRateLimit(RateLimitConfig limit) {
        return new DiskConfig(path, readOnly, id, limit, format);
    }
}
