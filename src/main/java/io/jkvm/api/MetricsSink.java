package io.jkvm.api;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.LongAdder;

/**
 * Where metrics lines go ({@code metrics_path}): opened once, when metrics are configured, and
 * never waited on. As in Firecracker, the file or named pipe must exist already (a client
 * creates it, then configures it); a regular file is appended to. A named pipe is opened
 * read-write and non-blocking, which Linux lets succeed with no reader yet (fifo(7)), as clients
 * such as Kata open their reader after configuring the path; a line that does not fit because
 * nobody reads is dropped and counted ({@code logger.missed_metrics_count}), so neither the API
 * thread nor the periodic flush can hang on a pipe.
 */
final class MetricsSink implements AutoCloseable {
    private final Path path;
    private final int fd;
    private final LongAdder missed = new LongAdder();
    private final LongAdder fails = new LongAdder();

    private MetricsSink(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /** Opens {@code path}; refuses with 400 naming {@code metrics_path} when it cannot. */
    static MetricsSink open(Path path) {
        if (!Files.exists(path)) {
            throw ApiException.badField("metrics_path", "metrics_path " + path
                    + ": no such file (create the file or named pipe first, as Firecracker requires)");
        }
        // Non-blocking in both cases: the type is read before the open, and a path that became a
        // pipe in between must not make the open wait for a reader.
        boolean pipe = !Files.isRegularFile(path);
        int flags = pipe ? Native.O_RDWR | Native.O_NONBLOCK | Native.O_CLOEXEC
                : Native.O_WRONLY | Native.O_APPEND | Native.O_NONBLOCK | Native.O_CLOEXEC;
        try {
            return new MetricsSink(path, Native.open(path.toString(), flags));
        } catch (NativeException e) {
            throw ApiException.badField("metrics_path", "metrics_path " + path + ": cannot open it: " + e.getMessage());
        }
    }

    Path path() {
        return path;
    }

    /**
     * Writes one line (a newline is added); false, counted, when it was dropped or failed.
     * Serialised: FlushMetrics and the periodic line never interleave.
     */
    synchronized boolean write(String line) {
        byte[] bytes = (line + "\n").getBytes(StandardCharsets.UTF_8);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(bytes.length);
            MemorySegment.copy(bytes, 0, buf, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, bytes.length);
            long done = 0;
            while (done < bytes.length) {
                long n = Native.write(fd, buf.asSlice(done), bytes.length - done);
                if (n == -Native.EINTR) {
                    continue;
                }
                if (n == -Native.EAGAIN && done == 0) {
                    missed.increment(); // a full pipe nobody reads: drop the whole line
                    return false;
                }
                if (n <= 0) {
                    fails.increment(); // an error, or a pipe that filled mid-line (the reader gets a cut line)
                    return false;
                }
                done += n;
            }
            return true;
        }
    }

    /** Lines dropped because the pipe was full. */
    long missed() {
        return missed.sum();
    }

    /** Lines that failed to write. */
    long fails() {
        return fails.sum();
    }

    @Override
    public void close() {
        Native.close(fd);
    }
}
