package io.jkvm.net;

/**
 * A packet endpoint for virtio-net: a non-blocking, pollable file descriptor where each read
 * returns and each write takes one frame preceded by a 12-byte virtio_net_hdr_v1 (the layout
 * TAP uses with IFF_VNET_HDR and TUNSETVNETHDRSZ 12). {@link Tap} is the real one.
 */
public interface NetBackend extends AutoCloseable {
    int fd();

    /** Which offloads the guest accepts on receive (TUNSETOFFLOAD); false if refused. */
    boolean setOffloads(boolean csum, boolean tso4, boolean tso6);

    @Override
    void close();
}
