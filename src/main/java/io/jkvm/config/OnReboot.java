package io.jkvm.config;

/** What a guest reboot does: end the VMM (like Firecracker) or reset the machine (like QEMU). */
public enum OnReboot {
    EXIT, RESTART
}
