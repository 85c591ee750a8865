package io.jkvm.device.virtio.vsock;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * The host-initiated half of the hybrid vsock before a connection exists: clients accepted on
 * {@code uds_path} until their {@code CONNECT <port>\n} line is complete ({@link HostClient}).
 * At most {@link VirtioVsock#MAX_HOST_CLIENTS} wait at once; a client beyond that, or beyond the
 * connection limit, is closed as soon as it is accepted. I/O thread only.
 */
final class HostListener {
    private static final Logger LOG = LoggerFactory.getLogger(HostListener.class);
    /** Host clients accepted per turn; more wait in the listen backlog for the next turn. */
    private static final int ACCEPTS_PER_TURN = 16;
    /** How long after a failed accept the listener is tried again. */
    static final long ACCEPT_RETRY_NANOS = 100_000_000L;

    /** A client whose line named a guest port: it becomes a connection (or is closed if there is no room). */
    record Request(HostClient client, long port) {}

    private final VsockMuxer muxer;
    private final List<HostClient> clients = new ArrayList<>();
    private boolean acceptRetry;

    HostListener(VsockMuxer muxer) {
        this.muxer = muxer;
    }

    int waiting() {
        return clients.size();
    }

    /** Whether an accept failed and the device should come back after {@link #ACCEPT_RETRY_NANOS}. */
    boolean acceptRetryPending() {
        return acceptRetry;
    }

    /**
     * Accepts new clients (when the listener is ready or a retry is due) and reads the lines of
     * those that sent something; returns the completed requests, in order.
     */
    List<Request> service(int connections) {
        if ((muxer.listenerHandle().takeReady() & SelectionKey.OP_ACCEPT) != 0 || acceptRetry) {
            acceptRetry = false;
            acceptSome(connections);
        }
        List<Request> done = new ArrayList<>();
        for (HostClient cl : List.copyOf(clients)) {
            if (cl.handle.takeReady() == 0) {
                continue;
            }
            switch (cl.read()) {
                case HostClient.Waiting w -> muxer.want(cl.handle, SelectionKey.OP_READ);
                case HostClient.Drop d -> {
                    LOG.debug("vsock: host client dropped: {}", d.why());
                    clients.remove(cl);
                    muxer.close(cl.handle, cl.channel);
                }
                case HostClient.Port p -> {
                    clients.remove(cl);
                    done.add(new Request(cl, p.port()));
                }
            }
        }
        return done;
    }

    /**
     * Accepts up to {@link #ACCEPTS_PER_TURN} clients, then watches the listener again (it fires
     * at once if the backlog holds more). A failing accept (EMFILE: out of descriptors) would fire
     * again at once too, for ever: the listener is left unwatched instead and the device comes
     * back after {@link #ACCEPT_RETRY_NANOS}.
     */
    private void acceptSome(int connections) {
        for (int i = 0; i < ACCEPTS_PER_TURN; i++) {
            SocketChannel ch;
            try {
                ch = muxer.accept();
            } catch (IOException e) {
                LOG.warn("vsock: accept on the host socket failed: {}; retrying shortly", e.toString());
                acceptRetry = true;
                return;
            }
            if (ch == null) {
                break;
            }
            if (clients.size() >= VirtioVsock.MAX_HOST_CLIENTS || connections >= VirtioVsock.MAX_CONNECTIONS) {
                LOG.debug("vsock: host client refused: {} waiting, {} connections", clients.size(), connections);
                muxer.close(null, ch);
                continue;
            }
            HostClient cl = new HostClient(ch);
            try {
                cl.handle = muxer.register(ch, SelectionKey.OP_READ);
            } catch (IOException | RuntimeException e) {
                LOG.warn("vsock: cannot watch a host client: {}", e.toString());
                muxer.close(null, ch);
                continue;
            }
            clients.add(cl);
        }
        muxer.want(muxer.listenerHandle(), SelectionKey.OP_ACCEPT);
    }

    /**
     * Closes the clients whose CONNECT line is overdue (a local process holding slots open would
     * otherwise lock every later host client out). Returns nanoseconds until the next deadline,
     * or -1 if no client waits.
     */
    long expireClients(long now) {
        long next = Long.MAX_VALUE;
        for (java.util.Iterator<HostClient> it = clients.iterator(); it.hasNext(); ) {
            HostClient cl = it.next();
            long left = cl.deadline - now;
            if (left <= 0) {
                LOG.debug("vsock: host client dropped: no CONNECT line within {} s", HostClient.LINE_TIMEOUT_NANOS / 1_000_000_000L);
                muxer.close(cl.handle, cl.channel);
                it.remove();
            } else {
                next = Math.min(next, left);
            }
        }
        return next == Long.MAX_VALUE ? -1 : next;
    }

    /** Closes every waiting client (device reset). */
    void dropAll() {
        for (HostClient cl : clients) {
            muxer.close(cl.handle, cl.channel);
        }
        clients.clear();
    }
}
