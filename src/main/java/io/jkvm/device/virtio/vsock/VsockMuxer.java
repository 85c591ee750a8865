package io.jkvm.device.virtio.vsock;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The host end of the hybrid vsock (Firecracker's design, docs/vsock.md): the listening Unix
 * socket at {@code uds_path} and the Unix sockets of the connections, all non-blocking.
 *
 * <p><b>Threads.</b> A small selector thread only <em>detects</em> readiness: for each ready
 * channel it records the ready operations in the channel's {@link Handle}, takes them out of the
 * channel's interest set (so a channel left unread does not make select return at once again)
 * and calls the waker, which schedules the device on its I/O thread. All reads, writes, accepts
 * and connects happen on the device's I/O thread, on non-blocking channels, under the device
 * lock: no blocking socket I/O on a vCPU thread and no device state shared with the selector
 * thread beyond the handles' atomic ready bits.
 */
final class VsockMuxer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VsockMuxer.class);

    /** One registered channel: its key and the ready operations not yet taken by the device. */
    static final class Handle {
        private final SelectionKey key;
        private final AtomicInteger ready = new AtomicInteger();

        private Handle(SelectableChannel ch, Selector selector, int ops) throws IOException {
            this.key = ch.register(selector, ops, this);
        }

        /** The ready operations seen since the last call (the device's I/O thread). */
        int takeReady() {
            return ready.getAndSet(0);
        }
    }

    private final Path path;
    private final ServerSocketChannel listener;
    private final Selector selector;
    private final Handle listenerHandle;
    private final Thread thread;
    private volatile Runnable waker;
    private volatile boolean closing;

    /**
     * Binds and listens on {@code path} (which must not exist: a stale socket of another VMM is
     * not silently taken over, as in Firecracker) and starts the selector thread.
     */
    VsockMuxer(Path path) throws IOException {
        this.path = path;
        if (Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("vsock uds_path " + path + " already exists");
        }
        selector = Selector.open();
        ServerSocketChannel l = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        boolean bound = false;
        try {
            l.bind(UnixDomainSocketAddress.of(path));
            bound = true;
            l.configureBlocking(false);
            listenerHandle = new Handle(l, selector, SelectionKey.OP_ACCEPT);
        } catch (IOException | RuntimeException e) {
            l.close();
            selector.close();
            if (bound) {
                try {
                    Files.deleteIfExists(path); // ours, made by the bind: a retry must not find it "already exists"
                } catch (IOException left) {
                    e.addSuppressed(left);
                }
            }
            throw e;
        }
        listener = l;
        thread = Thread.ofPlatform().name("vsock-uds").daemon(true).start(this::run);
    }

    Path path() {
        return path;
    }

    /** Called (on the selector thread) when a handle has new ready operations; null: nobody to tell yet. */
    void setWaker(Runnable r) {
        waker = r;
    }

    Handle listenerHandle() {
        return listenerHandle;
    }

    /** A host client waiting on {@code uds_path}, or null (non-blocking accept). */
    SocketChannel accept() throws IOException {
        SocketChannel ch = listener.accept();
        if (ch != null) {
            ch.configureBlocking(false);
        }
        return ch;
    }

    /**
     * Starts connecting to {@code <uds_path>_<port>} for a guest-initiated connection (Firecracker's
     * naming). Non-blocking: the result is connected, or pending (finish on OP_CONNECT); a path
     * where nothing listens fails here with an IOException.
     */
    SocketChannel connectToPort(long port) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.configureBlocking(false);
            ch.connect(UnixDomainSocketAddress.of(path.toString() + "_" + port));
            return ch;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    Handle register(SocketChannel ch, int ops) throws IOException {
        Handle h = new Handle(ch, selector, ops);
        selector.wakeup();
        return h;
    }

    /** Adds {@code ops} to what {@code h} is watched for (any thread). */
    void want(Handle h, int ops) {
        try {
            h.key.interestOpsOr(ops);
            selector.wakeup();
        } catch (CancelledKeyException e) {
            // closed meanwhile: nothing to watch
        }
    }

    /**
     * Closes the channel behind {@code h} (null: never registered). A registered channel's file
     * descriptor is released only when the selector next deregisters its key, so the selector is
     * woken: the host peer sees end of file now, not at the next unrelated event.
     */
    void close(Handle h, SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            LOG.debug("vsock: closing a host socket failed", e);
        }
        if (h != null) {
            h.key.cancel();
            selector.wakeup();
        }
    }

    private void run() {
        try {
            while (!closing) {
                boolean[] any = {false};
                selector.select(k -> {
                    Handle h = (Handle) k.attachment();
                    try {
                        int r = k.readyOps();
                        h.ready.getAndUpdate(v -> v | r);
                        k.interestOpsAnd(~r);
                        any[0] = true;
                    } catch (CancelledKeyException e) {
                        // the device closed the channel meanwhile
                    }
                });
                Runnable w = waker;
                if (any[0] && w != null) {
                    w.run();
                }
            }
        } catch (IOException | RuntimeException e) {
            if (!closing) {
                LOG.error("vsock: the host socket selector failed; host connections stop", e);
            }
        }
    }

    /** Stops the selector thread, closes the listener and removes the socket file it created. */
    @Override
    public void close() {
        closing = true;
        selector.wakeup();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            listener.close();
            selector.close();
        } catch (IOException e) {
            LOG.debug("vsock: closing the listener failed", e);
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.warn("vsock: could not remove {}: {}", path, e.toString());
        }
    }
}
