package io.jkvm.device.legacy;

/**
 * Where a {@link Serial16550}'s transmitted bytes go when they must not be written on the
 * thread that writes THR (a vCPU thread): the UART hands each byte over without blocking and
 * reports THRE only while the transmitter can take a whole FIFO load.
 */
public interface SerialTransmitter {
    /** True when at least {@link Serial16550#FIFO_SIZE} bytes can be taken now. */
    boolean ready();

    /** Takes one byte without blocking; false when there is no room (the byte is lost, as on overrun). */
    boolean send(int b);

    /** Registers what to call, on the transmitter's own thread, when {@link #ready()} turns true again. */
    void onReady(Runnable callback);
}
