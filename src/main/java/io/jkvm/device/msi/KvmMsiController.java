package io.jkvm.device.msi;

import io.jkvm.device.virtio.EventFd;
import io.jkvm.kvm.NativeException;
import io.jkvm.kvm.VmFd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * MSI delivery through KVM: each vector owns a GSI in the VM's {@link GsiRouter} whose route
 * carries the guest's message, and an eventfd bound to that GSI with KVM_IRQFD. Firing is then
 * one eventfd write from any thread, and the kernel injects the interrupt.
 *
 * <p>If routing or irqfd is unavailable (no in-kernel irqchip, old kernel), a vector falls back
 * to KVM_SIGNAL_MSI with the current message: slower (one ioctl per interrupt) but equivalent.
 */
public final class KvmMsiController implements MsiController {
    private static final Logger LOG = LoggerFactory.getLogger(KvmMsiController.class);

    private final VmFd vm;
    private final GsiRouter router;

    public KvmMsiController(VmFd vm, GsiRouter router) {
        this.vm = vm;
        this.router = router;
    }

    @Override
    public MsiVector allocate() {
        return new KvmVector();
    }

    private final class KvmVector implements MsiVector {
        private int gsi = -1;
        private volatile EventFd eventFd;
        private volatile long address;
        private volatile int data;
        private volatile boolean viaIrqfd;

        KvmVector() {
            try {
                gsi = router.allocateMsi(0, 0);
                eventFd = new EventFd();
                vm.irqfd(eventFd.fd(), gsi, false);
                viaIrqfd = true;
            } catch (NativeException | IllegalStateException e) {
                LOG.info("MSI via irqfd unavailable ({}); using KVM_SIGNAL_MSI", e.getMessage());
                releaseKernelSide();
            }
        }

        @Override
        public synchronized void setMessage(long address, int data) {
            this.address = address;
            this.data = data;
            if (viaIrqfd) {
                try {
                    router.updateMsi(gsi, address, data);
                } catch (RuntimeException e) {
                    LOG.warn("GSI route update failed ({}); falling back to KVM_SIGNAL_MSI", e.getMessage());
                    releaseKernelSide();
                }
            }
        }

        @Override
        public void fire() {
            EventFd fd = eventFd;
            if (viaIrqfd && fd != null) {
                fd.signal();
                return;
            }
            try {
                vm.signalMsi(address, data);
            } catch (RuntimeException e) {
                LOG.debug("KVM_SIGNAL_MSI failed: {}", e.getMessage());
            }
        }

        private void releaseKernelSide() {
            if (viaIrqfd) {
                try {
                    vm.irqfd(eventFd.fd(), gsi, true);
                } catch (RuntimeException ignored) {
                    // Already gone; nothing else to undo.
                }
            }
            viaIrqfd = false;
            if (eventFd != null) {
                eventFd.close();
                eventFd = null;
            }
            if (gsi >= 0) {
                try {
                    router.release(gsi);
                } catch (RuntimeException ignored) {
                    // The route stays; harmless without an irqfd.
                }
                gsi = -1;
            }
        }

        @Override
        public synchronized void close() {
            releaseKernelSide();
        }
    }
}
