package io.jkvm.device.virtio;

import io.jkvm.kvm.Native;
import io.jkvm.net.NetBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A TAP stand-in: a SOCK_SEQPACKET pair keeps frame boundaries; the test holds the peer end. */
final class SocketPairBackend implements NetBackend {
    final int deviceFd;
    final int peerFd;
    volatile boolean csum;
    volatile boolean tso4;
    volatile boolean tso6;

    SocketPairBackend() {
        int[] fds = Native.socketpair(Native.AF_UNIX, Native.SOCK_SEQPACKET | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
        deviceFd = fds[0];
        peerFd = fds[1];
    }

    @Override
    public int fd() {
        return deviceFd;
    }

    @Override
    public boolean setOffloads(boolean csum, boolean tso4, boolean tso6) {
        this.csum = csum;
        this.tso4 = tso4;
        this.tso6 = tso6;
        return true;
    }

    /** Injects one frame (vnet header included) towards the guest. */
    void send(byte[] frame) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(frame.length);
            MemorySegment.copy(frame, 0, s, ValueLayout.JAVA_BYTE, 0, frame.length);
            if (Native.write(peerFd, s, frame.length) != frame.length) {
                throw new IllegalStateException("send failed");
            }
        }
    }

    /** The next frame the guest transmitted, or null if none is queued. */
    byte[] receive() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(70000);
            long n = Native.read(peerFd, s, 70000);
            return n < 0 ? null : s.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    @Override
    public void close() {
        Native.close(deviceFd);
        Native.close(peerFd);
    }
}
