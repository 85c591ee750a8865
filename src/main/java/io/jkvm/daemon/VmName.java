package io.jkvm.daemon;

import java.util.regex.Pattern;

/** VM names: they become directory and socket names, so a short, safe alphabet. */
public final class VmName {
    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_.-]{0,39}");

    private VmName() {}

    public static String require(String name) {
        if (name == null || !NAME.matcher(name).matches() || name.contains("..")) {
            throw DaemonException.badRequest("VM name '" + name
                    + "': use 1 to 40 of a-z 0-9 _ . - (starting with a letter or digit)");
        }
        return name;
    }
}
