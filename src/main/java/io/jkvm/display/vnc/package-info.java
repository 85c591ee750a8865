/**
 * The RFB (VNC) server: {@link io.jkvm.display.vnc.VncServer} shows a
 * {@link io.jkvm.display.Framebuffer} to RFB 3.3/3.7/3.8 clients (RFC 6143) over a Unix socket or
 * password-protected TCP, and sends their keyboard and pointer to an
 * {@link io.jkvm.display.InputSink}.
 */
package io.jkvm.display.vnc;
