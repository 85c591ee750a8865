package io.jkvm.vmm;

import io.jkvm.device.legacy.AcpiPmDevice;
import io.jkvm.device.legacy.CmosRtc;
import io.jkvm.device.legacy.I8042;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.virtio.VirtioBalloon;
import io.jkvm.device.virtio.VirtioBlock;
import io.jkvm.device.virtio.VirtioConsole;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.VirtioNet;
import io.jkvm.device.virtio.input.VirtioInput;
import io.jkvm.device.virtio.vsock.VirtioVsock;
import io.jkvm.device.virtio.mmio.VirtioMmioState;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.snapshot.DeviceCodecs;
import io.jkvm.snapshot.VmConfigState;

import java.util.List;

/**
 * Every device state a jkvm VM saves, with its codec: the registry of the snapshot file's (and
 * migration stream's) device section, and the VM configuration record (vm_config) saved with
 * them. A new device adds its {@code State.CODEC} here; the
 * section's one version is {@link DeviceCodecs#FORMAT_VERSION}.
 */
public final class DeviceStateFormat {
    private DeviceStateFormat() {}

    public static final DeviceCodecs CODECS = new DeviceCodecs(List.of(
            Serial16550.State.CODEC,
            I8042.State.CODEC,
            CmosRtc.State.CODEC,
            AcpiPmDevice.State.CODEC,
            PciConfigIo.State.CODEC,
            VirtioPciState.CODEC,
            VirtioMmioState.CODEC,
            VirtioBlock.State.CODEC,
            VirtioNet.State.CODEC,
            VirtioConsole.State.CODEC,
            VirtioVsock.State.CODEC,
            VirtioBalloon.State.CODEC,
            VirtioInput.State.CODEC,
            VirtioDevice.NoState.CODEC,
            io.jkvm.device.display.BochsDisplay.State.CODEC,
            VmConfigState.CODEC,
            io.jkvm.mmds.MmdsState.CODEC));
}
