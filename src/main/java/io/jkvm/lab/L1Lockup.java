package io.jkvm.lab;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Recognises the lab machine's kernel reporting one of its CPUs stuck in the kernel
 * ("watchdog: BUG: soft lockup - CPU#0 stuck for 104s! [qemu-system-x86:145]"). Seen in the lab
 * with QEMU as the nested VMM, the same as with jkvm: a vCPU thread of the nested VMM spinning in
 * L1's KVM. The kernel repeats the line every ~28 s, which would otherwise count as output and keep
 * the lab's no-output watchdog from ever firing; a lockup this long is the lab machine's failure.
 */
final class L1Lockup {
    /** Shorter stalls happen on a loaded, emulated machine and pass; a CPU stuck this long does not come back. */
    static final int STUCK_SECONDS = 100;
    private static final Pattern LINE = Pattern.compile("soft lockup - CPU#\\d+ stuck for (\\d+)s! \\[[^\\]]*\\]");

    private L1Lockup() {}

    /** The lockup line in {@code consoleText} if it reports a CPU stuck at least {@link #STUCK_SECONDS}, else null. */
    static String in(String consoleText) {
        if (!consoleText.contains("soft lockup")) {
            return null;
        }
        Matcher m = LINE.matcher(consoleText);
        while (m.find()) {
            try {
                if (Integer.parseInt(m.group(1)) >= STUCK_SECONDS) {
                    return m.group();
                }
            } catch (NumberFormatException e) {
                // not a number of seconds we can use: keep looking
            }
        }
        return null;
    }
}
