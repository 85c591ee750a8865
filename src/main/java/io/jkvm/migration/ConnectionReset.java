package io.jkvm.migration;

import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;

/**
 * Ends a migration connection at once, for a deadline. A plain {@code close()} of a TLS socket
 * first sends close_notify under the same record lock a writer holds while it is blocked on a
 * full send buffer (a peer that stopped reading), so the deadline's own thread would block behind
 * that writer. With SO_LINGER set, JDK's SSLSocketImpl waits at most the linger time for that
 * lock and then shuts the socket, which fails the blocked write; a linger of 0 also resets the
 * connection instead of draining it. Only deadlines use this: a normal close keeps the default,
 * so a last record (FAILED and its reason) still reaches the peer.
 */
final class ConnectionReset {
    private ConnectionReset() {}

    static Runnable of(Socket socket) {
        return () -> {
            try {
                socket.setSoLinger(true, 0);
            } catch (SocketException alreadyClosed) {
                // closed already: nothing to reset
            }
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing is all that is left to do
            }
        };
    }
}
