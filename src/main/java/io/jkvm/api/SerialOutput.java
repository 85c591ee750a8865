package io.jkvm.api;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Opens Firecracker's {@code serial_out_path} for the console: a regular file is created or
 * appended to; a named pipe must already have its reader, since opening a pipe for writing
 * otherwise waits for one and InstanceStart would hang (checked with a non-blocking open first,
 * which fails with ENXIO when nobody reads, fifo(7)).
 */
final class SerialOutput {
    private static final int ENXIO = 6;

    private SerialOutput() {}

    static OutputStream open(Path path) {
        try {
            if (Files.exists(path) && !Files.isRegularFile(path)) {
                try {
                    Native.close(Native.open(path.toString(), Native.O_WRONLY | Native.O_NONBLOCK));
                } catch (NativeException e) {
                    throw ApiException.badField("serial_out_path", "serial_out_path " + path + ": "
                            + (e.errno() == ENXIO ? "a named pipe nobody reads yet (start its reader first)" : e.getMessage()));
                }
            }
            return Files.newOutputStream(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw ApiException.badField("serial_out_path", "serial_out_path " + path + ": cannot open: " + e.getMessage());
        }
    }
}
