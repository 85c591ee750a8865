package io.jkvm.arch.x86.boot;

import io.jkvm.arch.x86.Layout;
import java.nio.charset.StandardCharsets;

/**
 * Encodes the kernel command line as the NUL-terminated byte string Linux reads at
 * cmd_line_ptr (boot.rst, "The Kernel Command Line").
 */
public final class CommandLine {
    private CommandLine() {}

    /** x86 Linux COMMAND_LINE_SIZE (asm/setup.h): the limit when the kernel declares none (PVH). */
    public static final int LINUX_COMMAND_LINE_SIZE = 2048;

    /**
     * @param maxLength longest command line (without the NUL) the kernel accepts
     * @param limitSource what imposes {@code maxLength}, for the error message
     * @return the bytes including the terminating NUL
     */
    public static byte[] encode(String cmdline, long maxLength, String limitSource) {
        byte[] text = cmdline.getBytes(StandardCharsets.UTF_8);
        for (byte b : text) {
            if (b == 0) {
                throw new BootException("kernel command line contains a NUL character");
            }
        }
        long limit = Math.min(maxLength, Layout.CMDLINE_MAX - 1);
        if (text.length > limit) {
            throw new BootException(String.format(
                    "kernel command line is %d bytes; the kernel accepts at most %d (%s)",
                    text.length, limit, limit == maxLength ? limitSource : "jkvm's command line buffer"));
        }
        byte[] out = new byte[text.length + 1];
        System.arraycopy(text, 0, out, 0, text.length);
        return out;
    }
}
