package io.jkvm.api;

import java.util.regex.Pattern;

/**
 * Firecracker's {@code partuuid} of the root drive: the kernel mounts the partition with that
 * unique id ({@code root=PARTUUID=...}, see the kernel's {@code name_to_dev_t} in
 * init/do_mounts.c: a GPT GUID or an MBR {@code SSSSSSSS-PP} id, optionally followed by
 * {@code /PARTNROFF=N}) instead of the whole {@code /dev/vda}.
 *
 * <p>The value goes onto the kernel command line, so anything but those characters is refused:
 * a space would let a client add kernel parameters through a drive field.
 */
final class Partuuid {
    private static final Pattern FORM = Pattern.compile("[0-9A-Fa-f-]{1,36}(/PARTNROFF=-?[0-9]{1,3})?");

    private Partuuid() {}

    static void check(Drive d) {
        if (d.partuuid() == null) {
            return;
        }
        if (!d.root()) {
            throw ApiException.badField("partuuid", "partuuid '" + d.partuuid()
                    + "': only the root device's partuuid is used (set is_root_device, or leave partuuid out)");
        }
        if (!FORM.matcher(d.partuuid()).matches()) {
            throw ApiException.badField("partuuid", "partuuid '" + d.partuuid()
                    + "': not a partition id (hex digits and '-', like 0cbf4b6e-01, optionally /PARTNROFF=N)");
        }
    }

    /** The {@code root=} argument for the root drive {@code d} (already checked). */
    static String rootArgument(Drive d) {
        return d.partuuid() != null ? "root=PARTUUID=" + d.partuuid() : "root=/dev/vda";
    }
}
