package io.jkvm.display.vnc;

import io.jkvm.display.DisplayMode;
import io.jkvm.display.Framebuffer;
import io.jkvm.display.InputSink;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One RFB client: a reading thread (the handshake, then client messages, RFC 6143 sections 7.1
 * to 7.5) and a sending thread (framebuffer updates, section 7.6.1).
 *
 * <p>Damage reports arrive on the framebuffer's thread and only mark tiles and signal; the sender
 * does every read of pixels and every write, so a client that stops reading stalls nobody but its
 * own sender, which gives up after the write stall timeout. Nothing is sent unless the client
 * asked (a FramebufferUpdateRequest is pending) and there is something to send: an idle screen
 * costs no CPU.
 *
 * <p>Mode changes: a client that announced DesktopSize (-223) gets an update holding only that
 * pseudo-rectangle with the new size, and everything is dirty again, so its next request brings
 * the whole new screen. A client that did not is disconnected (it has no way to learn the new
 * size; cutting or padding the picture would show it a wrong screen without telling it).
 */
final class ClientSession {
    private static final Logger LOG = LoggerFactory.getLogger(ClientSession.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Flush a framebuffer update once this much of it is built. */
    private static final int FLUSH_BYTES = 1 << 20;

    private final VncServer server;
    private final RfbChannel ch;
    /** Who connected ({@link AuthThrottle#peerOf}), or null on the Unix socket. */
    private final String peer;
    private final String name;
    /** Why this connection is refused right after the version exchange, or null to serve it. */
    private final String refusal;
    private final Framebuffer fb;
    private final InputSink input;
    private final VncServer.Options options;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    // Guarded by lock:
    private DirtyTiles dirty;
    private Rect pending;
    private boolean forceReply;
    private boolean modeCheck;
    private PixelFormat format = PixelFormat.DEFAULT;
    private int encoding = Encodings.RAW;
    private boolean desktopSize;
    private boolean closed;

    /** The screen size this client was last told (ServerInit or DesktopSize), for pointer events. */
    private volatile DisplayMode clientSize = DisplayMode.FALLBACK;
    private int lastButtons;

    ClientSession(VncServer server, RfbChannel ch, String name, String refusal, String peer) {
        this.server = server;
        this.ch = ch;
        this.name = name;
        this.refusal = refusal;
        this.peer = peer;
        this.fb = server.framebuffer();
        this.input = server.input();
        this.options = server.options();
    }

    /** The reading thread: handshake, then messages until the client leaves or misbehaves. */
    void run() {
        try {
            if (handshake()) {
                Thread.ofPlatform().name(name + "-out").daemon(true).start(this::sendLoop);
                readLoop();
            }
        } catch (IOException e) {
            LOG.debug("{}: {}", name, e.toString());
        } catch (ProtocolException e) {
            LOG.info("{}: closed: {}", name, e.getMessage());
        } catch (RuntimeException e) {
            LOG.warn("{}: closed on an internal error", name, e);
        } finally {
            close();
            server.sessionEnded(this);
        }
    }

    /** A client broke the protocol or asked for something this server refuses: close it, saying why in the log. */
    static final class ProtocolException extends Exception {
        ProtocolException(String message) {
            super(message);
        }
    }

    private long stallNanos() {
        return options.writeStallTimeout().toNanos();
    }

    private void send(WireOut out) throws IOException {
        ch.write(out.toBuffer(), stallNanos());
    }

    /** Section 7.1: version, security, initialisation. Returns false if the connection ends here. */
    private boolean handshake() throws IOException, ProtocolException {
        long deadline = System.nanoTime() + options.handshakeTimeout().toNanos();
        WireOut out = new WireOut();
        send(out.bytes("RFB 003.008\n".getBytes(StandardCharsets.US_ASCII)));
        int minor = RfbVersion.parse(ch.bytes(RfbVersion.LENGTH, deadline));
        if (minor < 0) {
            // Whatever the client is, the 3.3 form of a failure (type 0, reason) is the one every
            // version can show: RFB 3.3 clients expect a 32-bit security type first.
            failure33(out, "unsupported RFB protocol version (this server speaks 3.3, 3.7 and 3.8)");
            throw new ProtocolException("unsupported protocol version");
        }
        byte[] key = server.authKey();
        InetAddress peer = ch.peerAddress();
        String refused = refusal;
        if (refused == null && key != null && peer != null && !server.throttle().allowed(peer, System.nanoTime())) {
            refused = "too many authentication failures: try again later";
        }
        if (refused != null) {
            // The connection-failed form of the security step (section 7.1.2): no types, a reason.
            if (minor == 3) {
                failure33(out, refused);
            } else {
                out.clear();
                send(out.u8(0).u32(refused.length()).bytes(refused.getBytes(StandardCharsets.US_ASCII)));
            }
            throw new ProtocolException("refused: " + refused);
        }
        int type = key == null ? 1 : 2; // None on the Unix socket, VNC Authentication on TCP
        out.clear();
        if (minor == 3) {
            send(out.u32(type)); // 3.3: the server decides (section 7.1.2 notes)
        } else {
            send(out.u8(1).u8(type));
            int chosen = ch.u8(deadline);
            if (chosen != type) {
                securityFailed(out, minor, "security type " + chosen + " was not offered");
            }
        }
        if (type == 2) {
            byte[] challenge = new byte[VncAuth.CHALLENGE_BYTES];
            RANDOM.nextBytes(challenge);
            out.clear();
            send(out.bytes(challenge));
            byte[] answer = ch.bytes(VncAuth.CHALLENGE_BYTES, deadline);
            if (!VncAuth.check(key, challenge, answer)) {
                if (peer != null) {
                    server.throttle().failed(peer, System.nanoTime());
                }
                securityFailed(out, minor, "authentication failed");
            }
            if (peer != null) {
                server.throttle().succeeded(peer);
            }
            out.clear();
            send(out.u32(0));
        } else if (minor == 8) {
            out.clear();
            send(out.u32(0)); // 3.8 sends SecurityResult even for None (section 7.1.3)
        }
        ch.u8(deadline); // ClientInit shared-flag: every client shares this server
        server.sessionActive(this);
        DisplayMode size = effective(fb.mode());
        lock.lock();
        try {
            dirty = new DirtyTiles(size.width(), size.height());
            clientSize = size;
        } finally {
            lock.unlock();
        }
        byte[] desktop = options.desktopName().getBytes(StandardCharsets.UTF_8);
        out.clear();
        out.u16(size.width()).u16(size.height());
        ByteBuffer pf = ByteBuffer.allocate(PixelFormat.WIRE_BYTES);
        PixelFormat.DEFAULT.write(pf);
        send(out.bytes(pf.array()).u32(desktop.length).bytes(desktop));
        LOG.info("{}: connected (RFB 3.{}{})", name, minor, type == 2 ? ", authenticated" : "");
        return true;
    }

    private void failure33(WireOut out, String reason) throws IOException {
        out.clear();
        send(out.u32(0).u32(reason.length()).bytes(reason.getBytes(StandardCharsets.US_ASCII)));
    }

    /** SecurityResult failed (section 7.1.3): 3.8 adds a reason; then the connection closes. */
    private void securityFailed(WireOut out, int minor, String reason) throws IOException, ProtocolException {
        out.clear();
        out.u32(1);
        if (minor == 8) {
            out.u32(reason.length()).bytes(reason.getBytes(StandardCharsets.US_ASCII));
        }
        send(out);
        throw new ProtocolException(reason);
    }

    private static DisplayMode effective(DisplayMode mode) {
        return mode.isOff() ? DisplayMode.FALLBACK : mode;
    }

    /** Client-to-server messages (section 7.5), every length checked before anything is read. */
    private void readLoop() throws IOException, ProtocolException {
        long f = RfbChannel.FOREVER;
        while (true) {
            int type = ch.u8(f);
            switch (type) {
                case 0 -> { // SetPixelFormat
                    ch.skip(3, f);
                    PixelFormat pf;
                    try {
                        pf = PixelFormat.parse(ch.slice(PixelFormat.WIRE_BYTES, f));
                    } catch (IllegalArgumentException e) {
                        throw new ProtocolException(e.getMessage());
                    }
                    lock.lock();
                    try {
                        format = pf;
                    } finally {
                        lock.unlock();
                    }
                }
                case 2 -> { // SetEncodings: the first one we know, in the client's order of preference
                    ch.skip(1, f);
                    int n = ch.u16(f);
                    int chosen = -1;
                    boolean resize = false;
                    for (int i = 0; i < n; i++) {
                        int e = ch.s32(f);
                        if (chosen < 0 && (e == Encodings.RAW || e == Encodings.HEXTILE)) {
                            chosen = e;
                        }
                        resize |= e == Encodings.DESKTOP_SIZE;
                    }
                    lock.lock();
                    try {
                        encoding = chosen < 0 ? Encodings.RAW : chosen;
                        desktopSize = resize;
                    } finally {
                        lock.unlock();
                    }
                }
                case 3 -> { // FramebufferUpdateRequest
                    boolean incremental = ch.u8(f) != 0;
                    int x = ch.u16(f);
                    int y = ch.u16(f);
                    int w = ch.u16(f);
                    int h = ch.u16(f);
                    request(incremental, x, y, w, h);
                }
                case 4 -> { // KeyEvent
                    boolean down = ch.u8(f) != 0;
                    ch.skip(2, f);
                    int code = Keysyms.toLinux(ch.s32(f));
                    if (code != 0) {
                        input.key(code, down);
                    }
                }
                case 5 -> { // PointerEvent
                    int buttons = ch.u8(f);
                    int x = ch.u16(f);
                    int y = ch.u16(f);
                    pointer(buttons, x, y);
                }
                case 6 -> { // ClientCutText: read and dropped (no clipboard in the guest)
                    ch.skip(3, f);
                    long length = ch.s32(f) & 0xffffffffL;
                    if (length > options.maxCutText()) {
                        throw new ProtocolException("cut text of " + length + " bytes (limit " + options.maxCutText() + ")");
                    }
                    ch.skip(length, f);
                }
                default -> throw new ProtocolException("unknown message type " + type);
            }
        }
    }

    /** Buttons 1-3 go to the pointer; 4 and 5 are wheel up and down, one step per press. */
    private void pointer(int buttons, int x, int y) {
        DisplayMode size = clientSize;
        int pressed = buttons & ~lastButtons;
        lastButtons = buttons;
        input.pointer(x, y, size.width(), size.height(), buttons & 0x7);
        if ((pressed & 0x08) != 0) {
            input.wheel(1);
        }
        if ((pressed & 0x10) != 0) {
            input.wheel(-1);
        }
    }

    private void request(boolean incremental, int x, int y, int w, int h) {
        lock.lock();
        try {
            Rect r = Rect.clamp(x, y, w, h, dirty.width(), dirty.height());
            if (!incremental) {
                dirty.add(r.x(), r.y(), r.w(), r.h());
                forceReply = true;
            }
            pending = pending == null ? r : pending.union(r);
            wake.signal();
        } finally {
            lock.unlock();
        }
    }

    /** From the framebuffer's thread: record and signal, nothing else. */
    void damaged(int x, int y, int w, int h) {
        lock.lock();
        try {
            if (dirty != null) {
                dirty.add(x, y, w, h);
                if (pending != null) {
                    wake.signal();
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** From the framebuffer's thread: everything is dirty, and the size may have changed. */
    void modeChanged() {
        lock.lock();
        try {
            if (dirty != null) {
                dirty.addAll();
                modeCheck = true;
                wake.signal();
            }
        } finally {
            lock.unlock();
        }
    }

    private boolean ready() {
        return pending != null && (modeCheck || forceReply || dirty.intersects(pending));
    }

    /** The sending thread: waits for a request with something to answer, then answers it. */
    private void sendLoop() {
        WireOut out = new WireOut();
        int[] pixels = new int[0];
        try {
            while (true) {
                Rect area;
                PixelFormat pf;
                int enc;
                boolean resizable;
                lock.lock();
                try {
                    while (!closed && !ready()) {
                        wake.await();
                    }
                    if (closed) {
                        return;
                    }
                    area = pending;
                    modeCheck = false;
                    pf = format;
                    enc = encoding;
                    resizable = desktopSize;
                } finally {
                    lock.unlock();
                }
                DisplayMode size = effective(fb.mode());
                if (!size.equals(clientSize)) {
                    if (!resizable) {
                        throw new ProtocolException("the display mode changed to " + size.width() + "x" + size.height()
                                + " and the client does not support DesktopSize");
                    }
                    lock.lock();
                    try {
                        dirty.resize(size.width(), size.height());
                        pending = null;
                        forceReply = false;
                        clientSize = size;
                    } finally {
                        lock.unlock();
                    }
                    out.clear();
                    out.u8(0).u8(0).u16(1);
                    Encodings.header(out, 0, 0, size.width(), size.height(), Encodings.DESKTOP_SIZE);
                    send(out);
                    continue;
                }
                List<Rect> rects = new ArrayList<>();
                lock.lock();
                try {
                    dirty.take(area, rects::add);
                    pending = null;
                    forceReply = false;
                } finally {
                    lock.unlock();
                }
                out.clear();
                out.u8(0).u8(0).u16(rects.size()); // FramebufferUpdate (section 7.6.1)
                for (Rect r : rects) {
                    int n = r.w() * r.h();
                    if (pixels.length < n) {
                        pixels = new int[n];
                    }
                    readPixels(r, size, pixels);
                    Encodings.header(out, r.x(), r.y(), r.w(), r.h(), enc);
                    if (enc == Encodings.HEXTILE) {
                        Encodings.hextile(out, pf, pixels, r.w(), r.h());
                    } else {
                        Encodings.raw(out, pf, pixels, r.w(), r.h());
                    }
                    if (out.size() >= FLUSH_BYTES) {
                        send(out);
                        out.clear();
                    }
                }
                send(out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            LOG.info("{}: closed: {}", name, e.toString());
        } catch (ProtocolException e) {
            LOG.info("{}: closed: {}", name, e.getMessage());
        } catch (RuntimeException e) {
            LOG.warn("{}: closed on an internal error", name, e);
        } finally {
            close();
        }
    }

    /**
     * The rectangle's pixels. While the guest has no mode the screen is black; if the mode changed
     * under us the read fails and the rectangle is sent black, and the next round tells the client
     * the new size.
     */
    private void readPixels(Rect r, DisplayMode size, int[] dst) {
        try {
            if (!fb.mode().isOff()) {
                fb.readPixels(r.x(), r.y(), r.w(), r.h(), dst);
                return;
            }
        } catch (IllegalArgumentException e) {
            lock.lock();
            try {
                modeCheck = true;
            } finally {
                lock.unlock();
            }
        }
        Arrays.fill(dst, 0, r.w() * r.h(), 0);
    }

    /** Ends both threads and the connection; idempotent, from any thread. */
    void close() {
        lock.lock();
        try {
            closed = true;
            wake.signal();
        } finally {
            lock.unlock();
        }
        ch.close();
    }

    String peer() {
        return peer;
    }

    @Override
    public String toString() {
        return name;
    }
}
