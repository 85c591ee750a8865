package io.jkvm.device.virtio.vsock;

import static io.jkvm.device.virtio.vsock.VsockHeader.*;

/**
 * What the device does with a header from the guest's transmit queue, before any connection is
 * looked at. Every field a guest controls is checked here; nothing a guest sends can make the
 * device throw or allocate beyond {@link VirtioVsock#MAX_PAYLOAD}.
 */
final class VsockPackets {
    private VsockPackets() {}

    enum Verdict {
        /** Hand it to the connection table. */
        ACCEPT,
        /** Ignore it: no trustworthy address to answer (or an RST, which is never answered). */
        DROP,
        /** Answer RST to the sender's port (§5.10.6.4: a bad packet resets its connection). */
        RST
    }

    /**
     * @param h the decoded header
     * @param payloadRoom readable bytes after the header in the chain
     * @param guestCid the guest's configured CID
     */
    static Verdict check(VsockHeader h, long payloadRoom, long guestCid) {
        // §5.10.6: the driver sends as its own CID and may only reach the host (CID 2) through us.
        if (h.srcCid() != guestCid || h.dstCid() != VirtioVsock.HOST_CID) {
            return Verdict.DROP;
        }
        if (h.op() == OP_RST) {
            return Verdict.ACCEPT;
        }
        if (h.type() != TYPE_STREAM || h.op() < OP_REQUEST || h.op() > OP_CREDIT_REQUEST) {
            return Verdict.RST; // SEQPACKET was not offered (§5.10.3); an unknown op has no meaning
        }
        long len = h.lenUnsigned();
        if (len > VirtioVsock.MAX_PAYLOAD || len > payloadRoom) {
            return Verdict.RST; // a length beyond the chain or our packet cap
        }
        if (len != 0 && h.op() != OP_RW) {
            return Verdict.RST; // only RW carries data
        }
        return Verdict.ACCEPT;
    }
}
