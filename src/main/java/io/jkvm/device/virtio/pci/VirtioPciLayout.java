package io.jkvm.device.virtio.pci;

import io.jkvm.device.pci.PciConfigSpace;

/**
 * Where things live in a jkvm virtio-pci function: the BAR 0 map and the capability structures
 * (virtio 1.2 §4.1.4 "Virtio Structure PCI Capabilities", PCI 3.0 §6.8.2 MSI-X).
 *
 * <pre>
 * BAR 0 (64-bit memory, 32 KiB, not prefetchable: it holds the MSI-X table)
 *   0x0000 common configuration   (0x38 bytes, §4.1.4.3)
 *   0x1000 ISR status              (1 byte, §4.1.4.5)
 *   0x2000 device configuration    (§5.x)
 *   0x3000 notifications           (queue q at 0x3000 + 4q, §4.1.4.4)
 *   0x4000 MSI-X table             (16 bytes per vector)
 *   0x6000 MSI-X PBA
 * </pre>
 */
public final class VirtioPciLayout {
    private VirtioPciLayout() {}

    public static final int BAR = 0;
    public static final long BAR_SIZE = 0x8000;
    public static final int COMMON_OFFSET = 0x0000;
    public static final int COMMON_LENGTH = 0x38;
    public static final int ISR_OFFSET = 0x1000;
    public static final int ISR_LENGTH = 4;
    public static final int DEVICE_OFFSET = 0x2000;
    public static final int DEVICE_LENGTH = 0x1000;
    public static final int NOTIFY_OFFSET = 0x3000;
    public static final int NOTIFY_MULTIPLIER = 4;
    public static final int MSIX_TABLE_OFFSET = 0x4000;
    public static final int MSIX_PBA_OFFSET = 0x6000;
    /** Queues that fit the notify area and the MSI-X table (one vector each plus config). */
    public static final int MAX_QUEUES = 64;

    /** PCI capability IDs. */
    public static final int CAP_ID_VENDOR = 0x09;
    public static final int CAP_ID_MSIX = 0x11;

    /** virtio_pci_cap.cfg_type values (§4.1.4). */
    public static final int CAP_COMMON = 1;
    public static final int CAP_NOTIFY = 2;
    public static final int CAP_ISR = 3;
    public static final int CAP_DEVICE = 4;
    public static final int CAP_PCI_CFG = 5;

    /** Offsets inside a virtio_pci_cfg_cap, from its ID byte. */
    public static final int PCI_CFG_BAR = 4;
    public static final int PCI_CFG_OFFSET = 8;
    public static final int PCI_CFG_LENGTH = 12;
    public static final int PCI_CFG_DATA = 16;

    /** Body of struct virtio_pci_cap after cap_vndr/cap_next: cap_len ... length (14 bytes). */
    private static byte[] capBody(int capLen, int cfgType, int offset, int length, int extra) {
        byte[] b = new byte[14 + extra];
        b[0] = (byte) capLen;
        b[1] = (byte) cfgType;
        b[2] = (byte) BAR;
        b[3] = 0; // id: only one structure of each type
        putInt(b, 6, offset);
        putInt(b, 10, length);
        return b;
    }

    static int addVirtioCap(PciConfigSpace cs, int cfgType, int offset, int length) {
        return cs.addCapability(CAP_ID_VENDOR, capBody(16, cfgType, offset, length, 0));
    }

    /** struct virtio_pci_notify_cap: + notify_off_multiplier (§4.1.4.4). */
    static int addNotifyCap(PciConfigSpace cs, int offset, int length) {
        byte[] b = capBody(20, CAP_NOTIFY, offset, length, 4);
        putInt(b, 14, NOTIFY_MULTIPLIER);
        return cs.addCapability(CAP_ID_VENDOR, b);
    }

    /**
     * struct virtio_pci_cfg_cap (§4.1.4.9): bar, offset, length and pci_cfg_data are writable
     * by the driver; the access itself is done by {@link VirtioPciDevice}.
     */
    static int addPciCfgCap(PciConfigSpace cs) {
        byte[] b = capBody(20, CAP_PCI_CFG, 0, 0, 4);
        b[2] = 0;
        byte[] mask = new byte[b.length];
        mask[2] = (byte) 0xff; // bar
        for (int i = 6; i < 18; i++) {
            mask[i] = (byte) 0xff; // offset, length, data
        }
        return cs.addCapability(CAP_ID_VENDOR, b, mask);
    }

    /**
     * MSI-X capability (PCI 3.0 §6.8.2.3): Message Control (table size − 1, function mask bit
     * 14 and enable bit 15 writable), Table Offset/BIR and PBA Offset/BIR, both in BAR 0.
     */
    static int addMsixCap(PciConfigSpace cs, int vectors) {
        byte[] b = new byte[10];
        b[0] = (byte) (vectors - 1);
        b[1] = (byte) ((vectors - 1) >> 8);
        putInt(b, 2, MSIX_TABLE_OFFSET | BAR);
        putInt(b, 6, MSIX_PBA_OFFSET | BAR);
        byte[] mask = new byte[10];
        mask[1] = (byte) 0xc0;
        return cs.addCapability(CAP_ID_MSIX, b, mask);
    }

    private static void putInt(byte[] b, int at, int v) {
        for (int i = 0; i < 4; i++) {
            b[at + i] = (byte) (v >>> (8 * i));
        }
    }
}
