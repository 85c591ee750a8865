package io.jkvm.device.virtio.pci;

import io.jkvm.device.virtio.EventFd;
import io.jkvm.kvm.VmFd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@link NotifyRegistrar} over KVM_IOEVENTFD (api.rst 4.59), MMIO, any data value or one. */
public final class KvmNotifyRegistrar implements NotifyRegistrar {
    private static final Logger LOG = LoggerFactory.getLogger(KvmNotifyRegistrar.class);

    private final VmFd vm;

    public KvmNotifyRegistrar(VmFd vm) {
        this.vm = vm;
    }

    @Override
    public Binding bind(long address, int length, EventFd eventFd) {
        return bind(address, length, -1, eventFd);
    }

    /** KVM_IOEVENTFD_FLAG_DATAMATCH when {@code datamatch} is not negative. */
    @Override
    public Binding bind(long address, int length, long datamatch, EventFd eventFd) {
        try {
            vm.ioeventfd(eventFd.fd(), address, length, false, datamatch, false);
        } catch (RuntimeException e) {
            LOG.info("ioeventfd at 0x{} unavailable ({}); kicks will exit to userspace",
                    Long.toHexString(address), e.getMessage());
            return null;
        }
        return () -> {
            try {
                vm.ioeventfd(eventFd.fd(), address, length, false, datamatch, true);
            } catch (RuntimeException e) {
                LOG.debug("ioeventfd deassign at 0x{} failed: {}", Long.toHexString(address), e.getMessage());
            }
        };
    }
}
