package io.jkvm.daemon.web;

import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.StatusCode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One browser WebSocket joined byte-for-byte to one Unix stream socket (a VM's serial console or
 * its RFB display). Bounded both ways, with backpressure instead of buffering:
 * <ul>
 *   <li>socket to browser: one fixed {@link #CHUNK}-byte buffer; the next read from the socket
 *       waits until the browser has taken the previous frame, so a slow browser slows the reads
 *       (and the VMM, whose own per-client queue then drops for this client only), never grows a
 *       queue here;
 *   <li>browser to socket: frames are demanded one at a time (the listener is not auto-demanding)
 *       and the next is demanded only once the previous one is written, so Jetty stops reading
 *       the browser's TCP stream while the VMM is slow; a frame is at most the container's
 *       maximum message size.
 * </ul>
 * Either side closing closes the other. Socket work runs on two virtual threads of the bridge's
 * own, never on Jetty's threads.
 */
public final class SocketBridge implements Session.Listener {
    static final int CHUNK = 16 * 1024;

    private record Frame(ByteBuffer data, Callback done) {}

    private final SocketChannel channel;
    private final Runnable onClose;
    private final String what;
    /** Holds at most the one frame demanded and not yet written. */
    private final BlockingQueue<Frame> toSocket = new ArrayBlockingQueue<>(1);
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile Session session;
    private volatile Thread out;
    private volatile Thread in;

    SocketBridge(SocketChannel channel, String what, Runnable onClose) {
        this.channel = channel;
        this.what = what;
        this.onClose = onClose;
    }

    @Override
    public void onWebSocketOpen(Session s) {
        session = s;
        out = Thread.ofVirtual().name("web-bridge-out " + what).start(this::socketToBrowser);
        in = Thread.ofVirtual().name("web-bridge-in " + what).start(this::browserToSocket);
        s.demand();
    }

    @Override
    public void onWebSocketBinary(ByteBuffer payload, Callback callback) {
        if (!toSocket.offer(new Frame(payload, callback))) {
            // Cannot happen with one demand at a time; refuse rather than queue.
            callback.fail(new IllegalStateException("frame arrived before the previous one was written"));
            close(StatusCode.POLICY_VIOLATION, "flow control");
        }
    }

    @Override
    public void onWebSocketText(String text) {
        // xterm.js pages send binary; text is accepted as its UTF-8 bytes.
        if (!toSocket.offer(new Frame(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), Callback.NOOP))) {
            close(StatusCode.POLICY_VIOLATION, "flow control");
        }
    }

    @Override
    public void onWebSocketClose(int statusCode, String reason) {
        close(StatusCode.NORMAL, null);
    }

    @Override
    public void onWebSocketError(Throwable cause) {
        close(StatusCode.SERVER_ERROR, null);
    }

    private void browserToSocket() {
        try {
            while (!closed.get()) {
                Frame f = toSocket.take();
                try {
                    while (f.data().hasRemaining()) {
                        channel.write(f.data());
                    }
                    f.done().succeed();
                } catch (IOException e) {
                    f.done().fail(e);
                    throw e;
                }
                session.demand();
            }
        } catch (IOException | InterruptedException e) {
            // the socket closed, or the bridge did
        } finally {
            close(StatusCode.NORMAL, what + " closed");
        }
    }

    private void socketToBrowser() {
        ByteBuffer buf = ByteBuffer.allocate(CHUNK);
        try {
            while (!closed.get()) {
                buf.clear();
                if (channel.read(buf) < 0) {
                    break;
                }
                buf.flip();
                Callback.Completable sent = new Callback.Completable();
                session.sendBinary(buf, sent);
                sent.get(); // the one buffer is reused only once the browser side has taken it
            }
        } catch (IOException | InterruptedException | ExecutionException e) {
            // the socket closed, or the browser went away
        } finally {
            close(StatusCode.NORMAL, what + " closed");
        }
    }

    /** Closes both sides, once. */
    void close(int status, String reason) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            channel.close(); // wakes the thread blocked reading or writing it
        } catch (IOException e) {
            // closing anyway
        }
        Thread t = in;
        if (t != null && t != Thread.currentThread()) {
            t.interrupt(); // it may be waiting for a frame that will not come
        }
        Frame pending = toSocket.poll();
        if (pending != null) {
            pending.done().fail(new IOException("bridge closed"));
        }
        Session s = session;
        if (s != null && s.isOpen()) {
            s.close(status, reason, Callback.NOOP);
        }
        onClose.run();
    }
}
