package io.jkvm.device.virtio;

import io.jkvm.memory.GuestMemory;

/**
 * What the transport gives an activated device: negotiated features, live queues, interrupts
 * and the I/O thread. Valid from {@link VirtioDevice#activate} until the next reset; watches
 * registered here are removed by the transport on reset.
 */
public interface VirtioContext {
    GuestMemory memory();

    long features();

    default boolean hasFeature(int bit) {
        return VirtioFeatures.has(features(), bit);
    }

    Virtqueue queue(int index);

    /** Sends a used-buffer notification for queue {@code index} (MSI-X vector or INTx + ISR bit 0). */
    void notifyQueue(int index);

    /** Device configuration changed: bumps config_generation and notifies the driver (§2.5.1). */
    void configChanged();

    /** Handles a request-independent device failure: sets DEVICE_NEEDS_RESET (§2.1.2). */
    void fail(String reason);

    /**
     * Watches {@code fd} on the device's I/O thread. The handler runs under the device lock
     * and only while the device is live; a {@link VirtqueueException} from it breaks the device.
     */
    EventLoop.Watch watch(int fd, short events, IoHandler handler);

    /** Runs {@link VirtioDevice#queueNotified} for {@code index} soon on the I/O thread. Any thread may call it. */
    void kick(int index);

    /**
     * Runs {@link VirtioDevice#queueNotified} for {@code index} on the I/O thread once
     * {@code delayNanos} have passed, replacing an earlier deadline for that queue: how a device
     * that waits for time (a rate-limited queue) resumes without polling, spinning or sleeping on
     * the I/O thread. A reset cancels it; one falling due while I/O is suspended is dropped,
     * and resuming re-polls every queue anyway, so the device re-arms it then.
     */
    void kickAfter(int index, long delayNanos);

    /** A handler for {@link #watch}. */
    @FunctionalInterface
    interface IoHandler {
        void ready(short revents) throws VirtqueueException;
    }

    /**
     * Whether a chain just popped may be served now. A refusal leaves it on the available ring
     * ({@link Virtqueue#unpop}) and ends the turn; the gate arranges to be asked again
     * ({@link #kickAfter}).
     */
    @FunctionalInterface
    interface ChainGate {
        boolean admit(DescriptorChain chain);
    }

    /** A gate that admits everything. */
    ChainGate ALWAYS = c -> true;

    /** Computes the used length for one chain. */
    @FunctionalInterface
    interface ChainHandler {
        int handle(DescriptorChain chain) throws VirtqueueException;
    }

    /**
     * Chains one {@link #drain} call completes before it yields: the I/O thread then serves its
     * other descriptors, and the device lock is free for a waiting reset or {@code suspendIo},
     * before the queue is picked up again. A guest can make its queue endless (a read whose data
     * lands on the avail ring publishes the next request), so a drain must never run to "empty".
     */
    int MAX_CHAINS_PER_TURN = 64;

    /** Guest-buffer bytes one {@link #drain} call moves before it yields (a bigger single chain still completes). */
    long MAX_BYTES_PER_TURN = 1L << 20;

    /**
     * The usual request loop (§2.7.13.4 device side), one turn of it: pop available chains and
     * complete each with the handler's used length until the queue is empty or the turn's budget
     * ({@link #MAX_CHAINS_PER_TURN}, {@link #MAX_BYTES_PER_TURN}) is spent, re-arm notifications
     * and repeat if more arrived, then notify the driver once if it asked for it. With budget
     * spent and chains left, the queue is kicked again ({@link #kick}) and picked up on a later
     * turn of the I/O thread.
     *
     * <p>A handler that throws (a device bug, an Error such as OutOfMemoryError) does not take
     * the chain with it: the chain goes back to the used ring with length 0 and the driver is
     * notified (§2.7.8), then the exception propagates and the transport fails the device
     * (DEVICE_NEEDS_RESET, §2.1.2).
     */
    default void drain(int index, ChainHandler handler) throws VirtqueueException {
        drain(index, ALWAYS, handler);
    }

    /**
     * {@link #drain(int, ChainHandler)} with every chain first put to {@code gate}: the first one
     * it refuses goes back on the available ring and ends the turn, without re-arming driver
     * notifications (the gate's {@link #kickAfter} brings the device back, and a driver kick
     * meanwhile only makes it ask the gate again). What was completed before is still notified.
     */
    default void drain(int index, ChainGate gate, ChainHandler handler) throws VirtqueueException {
        Virtqueue q = queue(index);
        int chains = 0;
        long bytes = 0;
        boolean spent = false;
        boolean held = false;
        do {
            DescriptorChain c;
            while (!spent && (c = q.pop()) != null) {
                int len;
                try {
                    if (!gate.admit(c)) {
                        q.unpop();
                        held = true;
                        break;
                    }
                    len = handler.handle(c);
                } catch (RuntimeException | Error e) {
                    q.addUsed(c.head(), 0);
                    if (q.needsInterrupt()) {
                        notifyQueue(index);
                    }
                    throw e;
                }
                q.addUsed(c.head(), len);
                bytes += (long) c.readableLength() + c.writableLength();
                spent = ++chains >= MAX_CHAINS_PER_TURN || bytes >= MAX_BYTES_PER_TURN;
            }
        } while (!spent && !held && q.rearm());
        if (q.needsInterrupt()) {
            notifyQueue(index);
        }
        if (spent) {
            kick(index);
        }
    }
}
