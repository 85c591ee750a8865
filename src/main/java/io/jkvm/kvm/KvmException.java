package io.jkvm.kvm;

/** A failed KVM ioctl: the message names the ioctl and the errno, as in "KVM_CREATE_VM: Device or resource busy (errno 16)". */
public final class KvmException extends NativeException {
    private final String ioctl;

    public KvmException(String ioctl, int errno) {
        super(ioctl, errno);
        this.ioctl = ioctl;
    }

    public String ioctl() {
        return ioctl;
    }
}
