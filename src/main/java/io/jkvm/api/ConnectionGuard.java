package io.jkvm.api;

import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Scheduler;

import java.io.IOException;
import jdk.net.UnixDomainPrincipal;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Per-connection limits of a {@link UdsHttpServer} against hostile local clients.
 *
 * <p><b>Connections per client.</b> A client is the peer's user (SO_PEERCRED; the socket is
 * 0600, so in practice the owner and root). Beyond {@code perClient} open connections a new one is
 * answered {@code 503 {"fault_message": ...}} and closed at once.
 *
 * <p><b>Request deadline.</b> A request must arrive whole, request line, headers and body, within
 * {@code deadline} of the first check that saw its bytes (so within two deadlines of the moment
 * the server became ready for it: the connection opening, or the previous response being sent). A byte now and then does not extend it (an idle timeout would be
 * reset by each byte). Past the deadline, a connection that is still receiving bytes of an
 * unfinished request (checked every {@link #GRACE}) is answered {@code 408} JSON and closed. What
 * this does not cut is left to the idle timeout: a connection that sent nothing (idle keep-alive;
 * its window starts again, so a request that starts later is timed from about then) and one whose
 * bytes stopped coming, which may just be a complete request the server has not got round to yet,
 * so a busy server never makes a well-behaved client fail. While the request is being processed
 * (the body is complete) no deadline runs: slow operations such as a snapshot are the VMM's.
 */
final class ConnectionGuard implements Connection.Listener {
    private final Scheduler scheduler;
    private final long deadlineNanos;
    private final int perClient;
    private final ConcurrentHashMap<Connection, Tracked> tracked = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, AtomicInteger> perUser = new ConcurrentHashMap<>();

    ConnectionGuard(Scheduler scheduler, java.time.Duration deadline, int perClient) {
        this.scheduler = scheduler;
        this.deadlineNanos = deadline.toNanos();
        this.perClient = perClient;
    }

    /** Past the deadline, how often a connection is checked for bytes still trickling in. */
    static final long GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(250);
    static final java.time.Duration GRACE = java.time.Duration.ofNanos(GRACE_NANOS);

    /** Cuts a request that is too slow; given by whoever owns its reply. */
    interface Cutter {
        void cut(String why);
    }

    /** One accepted connection's deadline state. */
    final class Tracked {
        private final Connection connection;
        private final String client;
        private long phaseStart;
        private long bytesAtCheck;
        private boolean processing;
        private boolean pastDeadline;
        /** Bytes of the current request have been seen by a check (its own window has begun). */
        private boolean started;
        private Cutter cutter;
        private Scheduler.Task timer;

        Tracked(Connection connection, String client) {
            this.connection = connection;
            this.client = client;
        }

        /** Ready for the next request: its deadline starts now. */
        synchronized void awaitingRequest() {
            processing = false;
            pastDeadline = false;
            started = false;
            cutter = null;
            restartWindow();
        }

        private void restartWindow() {
            phaseStart = System.nanoTime();
            bytesAtCheck = connection.getBytesIn();
            schedule(deadlineNanos);
        }

        /** The handler has the request's headers; {@code c} answers it if its body is too slow. */
        synchronized void requestArrived(Cutter c) {
            cutter = c;
        }

        /** The request is complete and being processed: no deadline until its response is sent. */
        synchronized void processing() {
            processing = true;
            cutter = null;
            cancel();
        }

        private void schedule(long nanos) {
            cancel();
            timer = scheduler.schedule(this::check, nanos, TimeUnit.NANOSECONDS);
        }

        private synchronized void cancel() {
            if (timer != null) {
                timer.cancel();
                timer = null;
            }
        }

        private void check() {
            Cutter c;
            synchronized (this) {
                if (processing || timer == null) {
                    return;
                }
                timer = null;
                long now = connection.getBytesIn();
                boolean arriving = now != bytesAtCheck;
                bytesAtCheck = now;
                if (!pastDeadline) {
                    if (!arriving) {
                        restartWindow(); // nothing of a request yet: not this client's time
                        return;
                    }
                    if (!started) {
                        // The first bytes this window saw: when they came is unknown (a busy server
                        // reads late, and a JVM in an emulated machine can take seconds to read at
                        // all), so the request gets a whole window from here. A trickler is cut
                        // within two deadlines; a complete request on a slow server is not.
                        started = true;
                        restartWindow();
                        return;
                    }
                    pastDeadline = true; // part of a request came, the rest has not: watch it
                    schedule(GRACE_NANOS);
                    return;
                }
                if (!arriving) {
                    schedule(GRACE_NANOS); // stalled, or complete and waiting for the server: idle timeout's job
                    return;
                }
                c = cutter;
            }
            String why = "the request did not arrive within " + TimeUnit.NANOSECONDS.toMillis(deadlineNanos) + " ms";
            if (c != null) {
                c.cut(why); // the handler has it: answered through Jetty's response
            } else {
                writeAndClose(connection.getEndPoint(), 408, "Request Timeout", Json.fault(why));
            }
        }
    }

    /** The tracked state of {@code c}, or null if it was refused (over the client's limit). */
    Tracked get(Connection c) {
        return tracked.get(c);
    }

    @Override
    public void onOpened(Connection c) {
        String client = peer(c.getEndPoint());
        AtomicInteger n = perUser.computeIfAbsent(client, k -> new AtomicInteger());
        if (n.incrementAndGet() > perClient) {
            n.decrementAndGet();
            // Once the connection is set up (not from inside its opening): answer and close.
            scheduler.schedule(() -> writeAndClose(c.getEndPoint(), 503, "Service Unavailable", Json.fault(
                    "too many connections from this client (at most " + perClient + " at a time): close some and retry")),
                    0, TimeUnit.MILLISECONDS);
            return;
        }
        Tracked t = new Tracked(c, client);
        tracked.put(c, t);
        t.awaitingRequest();
    }

    @Override
    public void onClosed(Connection c) {
        Tracked t = tracked.remove(c);
        if (t != null) {
            t.cancel();
            perUser.get(t.client).decrementAndGet();
        }
    }

    /** The peer's user name (SO_PEERCRED), or "unknown" where the transport has none. */
    private static String peer(EndPoint endPoint) {
        if (endPoint.getTransport() instanceof SocketChannel ch) {
            try {
                UnixDomainPrincipal p = ch.getOption(jdk.net.ExtendedSocketOptions.SO_PEERCRED);
                return p.user().getName();
            } catch (IOException | UnsupportedOperationException e) {
                return "unknown";
            }
        }
        return "unknown";
    }

    /**
     * A whole HTTP/1.1 response written straight to the connection, then closed: for refusals
     * made before (or outside) Jetty's request handling, where no Response object exists.
     */
    static void writeAndClose(EndPoint endPoint, int status, String reason, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length + "\r\nConnection: close\r\n\r\n";
        ByteBuffer b = ByteBuffer.allocate(head.length() + body.length).put(head.getBytes(StandardCharsets.US_ASCII)).put(body)
                .flip();
        try {
            endPoint.write(Callback.from(endPoint::close, x -> endPoint.close()), b);
        } catch (RuntimeException e) { // a write already pending: Jetty is answering this connection itself
            endPoint.close();
        }
    }
}
