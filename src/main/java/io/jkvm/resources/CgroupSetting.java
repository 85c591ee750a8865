package io.jkvm.resources;

import java.util.regex.Pattern;

/**
 * One cgroup file and the value written to it, as the Firecracker jailer's {@code --cgroup
 * FILE=VALUE} takes it ({@code cpu.cfs_quota_us=50000}, {@code memory.limit_in_bytes=512M},
 * {@code pids.max=256}, {@code cpuset.cpus=2-3}). The controller is the file name's first part.
 */
public record CgroupSetting(String file, String value) {
    private static final Pattern FILE = Pattern.compile("[a-z][a-z0-9_]*\\.[a-z0-9_.]+");
    private static final int MAX_VALUE = 256;

    public CgroupSetting {
        if (file == null || !FILE.matcher(file).matches() || file.length() > 64) {
            throw new IllegalArgumentException("cgroup " + file + ": a file name such as memory.limit_in_bytes is required");
        }
        if (file.startsWith("cgroup.") || file.equals("tasks") || file.endsWith(".procs")) {
            throw new IllegalArgumentException("cgroup " + file + ": membership files are jkvm's to write, not a setting");
        }
        if (value == null || value.isEmpty() || value.length() > MAX_VALUE || value.chars().anyMatch(c -> c < 0x20 || c > 0x7e)) {
            throw new IllegalArgumentException("cgroup " + file + ": the value must be 1 to " + MAX_VALUE
                    + " printable ASCII characters on one line");
        }
    }

    /** Parses {@code FILE=VALUE}. */
    public static CgroupSetting parse(String text) {
        int eq = text == null ? -1 : text.indexOf('=');
        if (eq <= 0) {
            throw new IllegalArgumentException("cgroup " + text + ": expected FILE=VALUE, e.g. memory.limit_in_bytes=512M");
        }
        return new CgroupSetting(text.substring(0, eq).strip(), text.substring(eq + 1).strip());
    }

    /** The controller this file belongs to ({@code memory} for {@code memory.limit_in_bytes}). */
    public String controller() {
        return file.substring(0, file.indexOf('.'));
    }

    @Override
    public String toString() {
        return file + "=" + value;
    }
}
