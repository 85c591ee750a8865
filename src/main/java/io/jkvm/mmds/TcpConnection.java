package io.jkvm.mmds;

/**
 * One guest TCP connection to the MMDS's port 80, passively opened. Minimal by design: the link
 * is a virtio queue that neither reorders nor (in practice) loses frames, so data is taken in
 * order only (anything ahead of the next expected byte is dropped and the expected one acked
 * again), there is no congestion control and no retransmission timer (three duplicate ACKs
 * resend from the first unacknowledged byte), and retransmitted guest segments (SYN, data, FIN)
 * are acknowledged again without effect. Requests collect in a fixed buffer whose free space is
 * the advertised window; a request that does not fit resets the connection. One response is
 * pending at a time; segments are produced only when asked ({@link #nextSegment}), so nothing
 * queues up while the guest's receive queue is full.
 */
final class TcpConnection {
    /** Bytes of request (line, headers and any body) a connection buffers. */
    static final int REQUEST_BUFFER = 4096;
    /** Our maximum segment size: a 1500-byte MTU less the IPv4 and TCP headers. */
    static final int MSS = 1460;

    static final int FIN = 0x01;
    static final int SYN = 0x02;
    static final int RST = 0x04;
    static final int PSH = 0x08;
    static final int ACK = 0x10;

    /** A segment to send: flags, sequence and acknowledgment numbers, payload {@code data[off..off+len)}. */
    record Segment(int flags, int seq, int ack, int window, byte[] data, int off, int len, boolean mssOption) {}

    final int remoteIp;
    final int remotePort;
    byte[] remoteMac;
    private final MmdsResponder responder;
    private final int irs;
    private final int iss;
    private int rcvNxt;
    private int sndUna;
    private int sndNxt;
    private int remoteWindow;
    private int remoteMss = MSS;
    private boolean established;
    private final byte[] request = new byte[REQUEST_BUFFER];
    private int requestLen;
    private byte[] out;
    private int outBase;
    private boolean closeAfterResponse;
    private boolean finReceived;
    private boolean finSent;
    private int finSeq;
    private boolean finAcked;
    private boolean needAck = true; // the SYN-ACK first
    private boolean resetPending;
    private int resetSeq;
    private boolean done;
    private int dupAcks;

    TcpConnection(int remoteIp, int remotePort, byte[] remoteMac, int irs, int iss, int window, int mss,
            MmdsResponder responder) {
        this.remoteIp = remoteIp;
        this.remotePort = remotePort;
        this.remoteMac = remoteMac;
        this.irs = irs;
        this.iss = iss;
        this.rcvNxt = irs + 1;
        this.sndUna = iss;
        this.sndNxt = iss + 1;
        this.remoteWindow = window;
        if (mss > 0) {
            this.remoteMss = Math.min(MSS, Math.max(64, mss));
        }
        this.responder = responder;
    }

    boolean done() {
        return done;
    }

    boolean established() {
        return established;
    }

    /** Whether {@code seq} is the sequence number of the SYN that opened this connection. */
    boolean isSynOf(int seq) {
        return seq == irs;
    }

    /** Whether the connection has finished its part (our FIN acknowledged) or never got going. */
    boolean evictable() {
        return !established || finAcked;
    }

    /** A segment of this connection from the guest. */
    void receive(int flags, int seq, int ack, int window, byte[] b, int off, int len) {
        if (done) {
            return;
        }
        if ((flags & RST) != 0) {
            // Accept a reset in the window (or at the next byte): anything else is a stray.
            if (seq - rcvNxt >= 0 && seq - rcvNxt <= REQUEST_BUFFER) {
                done = true;
            }
            return;
        }
        if ((flags & SYN) != 0) {
            if (seq == irs) {
                needAck = true; // a retransmitted SYN (our SYN-ACK lost, or not yet seen): send it again
            }
            return;
        }
        if ((flags & ACK) == 0) {
            return;
        }
        if (!established) {
            if (ack != iss + 1) {
                resetPending = true; // an ACK for something we never sent
                resetSeq = ack;
                return;
            }
            established = true;
            sndUna = ack;
        }
        acknowledge(ack, window, len == 0 && (flags & FIN) == 0);
        take(flags, seq, b, off, len);
        serve();
    }

    private void acknowledge(int ack, int window, boolean pureAck) {
        if (Packets.after(ack, sndUna) && !Packets.after(ack, sndNxt)) {
            sndUna = ack;
            dupAcks = 0;
        } else if (ack == sndUna && pureAck && sndNxt != sndUna && window == remoteWindow) {
            if (++dupAcks == 3) {
                sndNxt = sndUna; // the guest misses what follows sndUna: send it again
                if (finSent && !Packets.after(sndUna, finSeq)) {
                    finSent = false;
                }
                dupAcks = 0;
            }
        }
        remoteWindow = window;
        if (out != null && !Packets.after(outBase + out.length, sndUna)) {
            out = null; // the whole response is acknowledged
        }
        if (finSent && Packets.after(sndUna, finSeq)) {
            finAcked = true;
        }
    }

    private void take(int flags, int seq, byte[] b, int off, int len) {
        boolean fin = (flags & FIN) != 0;
        if (len == 0 && !fin) {
            return;
        }
        int skip = rcvNxt - seq;
        if (skip < 0) {
            needAck = true; // ahead of what we expect: drop it, say where we are
            return;
        }
        if (finReceived || skip > len) {
            needAck = true; // all of it (and its FIN) seen before
            return;
        }
        int fresh = len - skip;
        int n = Math.min(fresh, REQUEST_BUFFER - requestLen);
        System.arraycopy(b, off + skip, request, requestLen, n);
        requestLen += n;
        rcvNxt += n;
        if (fin && n == fresh) {
            finReceived = true;
            rcvNxt += 1;
        }
        needAck = true;
    }

    /** Parses complete requests while no response is pending. */
    private void serve() {
        while (out == null && !closeAfterResponse && !resetPending && !finSent) {
            HttpRequest r;
            try {
                r = HttpRequest.parse(request, requestLen);
            } catch (HttpRequest.Malformed e) {
                setResponse(MmdsResponder.badRequest(e.getMessage()));
                closeAfterResponse = true;
                requestLen = 0;
                return;
            }
            if (r == null) {
                if (requestLen == REQUEST_BUFFER) {
                    resetPending = true; // a request larger than the buffer: as Firecracker, reset
                    resetSeq = sndNxt;
                }
                return;
            }
            System.arraycopy(request, r.length(), request, 0, requestLen - r.length());
            requestLen -= r.length();
            needAck = true; // the window has opened
            closeAfterResponse = r.closes();
            setResponse(responder.respond(r, closeAfterResponse));
        }
    }

    private void setResponse(byte[] response) {
        out = response;
        outBase = sndNxt;
    }

    private int window() {
        return REQUEST_BUFFER - requestLen;
    }

    /** The next segment to send, or null when there is nothing to say. */
    Segment nextSegment() {
        if (done) {
            return null;
        }
        if (resetPending) {
            done = true;
            return new Segment(RST | ACK, resetSeq, rcvNxt, 0, null, 0, 0, false);
        }
        if (!established) {
            if (!needAck) {
                return null;
            }
            needAck = false;
            return new Segment(SYN | ACK, iss, rcvNxt, window(), null, 0, 0, true);
        }
        if (out != null) {
            int sent = sndNxt - outBase;
            int usable = sndUna + remoteWindow - sndNxt;
            int n = Math.min(Math.min(remoteMss, out.length - sent), usable);
            if (n > 0) {
                Segment s = new Segment(ACK | PSH, sndNxt, rcvNxt, window(), out, sent, n, false);
                sndNxt += n;
                needAck = false;
                return s;
            }
        }
        boolean allSent = out == null || sndNxt - outBase == out.length;
        boolean wantFin = allSent && (closeAfterResponse || finReceived);
        if (wantFin && !finSent && !finAcked) {
            finSent = true;
            finSeq = sndNxt;
            Segment s = new Segment(FIN | ACK, sndNxt, rcvNxt, window(), null, 0, 0, false);
            sndNxt += 1;
            needAck = false;
            return s;
        }
        if (needAck) {
            needAck = false;
            Segment s = new Segment(ACK, sndNxt, rcvNxt, window(), null, 0, 0, false);
            if (finReceived && finAcked) {
                done = true; // both sides closed: this ACK of the guest's FIN is the last word
            }
            return s;
        }
        if (finReceived && finAcked) {
            done = true;
        }
        return null;
    }
}
