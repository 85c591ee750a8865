/**
 * What a VM shows and what it is told: the guest's framebuffer seen from the host
 * ({@link io.jkvm.display.Framebuffer}), the input it receives ({@link io.jkvm.display.InputSink}),
 * and the ways out of the VMM (the RFB/VNC server in {@code vnc}, PNG screenshots).
 *
 * <p>The devices that produce a framebuffer or consume input live under {@code io.jkvm.device};
 * this package knows nothing of PCI or virtio.
 */
package io.jkvm.display;
