package io.jkvm.device.pci;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.device.AccessOp;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;

class PciProperties {
    record CfgWrite(int offset, int size, int value) {}

    static PciConfigSpace sampleConfig() {
        PciConfigSpace cfg = new PciConfigSpace(new PciId(0x1af4, 0x1041, 0x02_00_00, 1, 0x1af4, 1));
        cfg.addBar(PciBar.io(0, 0x20));
        cfg.addBar(PciBar.memory32(1, 0x1000, false));
        cfg.addBar(PciBar.memory64(2, 0x4000, true));
        cfg.addCapability(0x11, new byte[10], new byte[] {(byte) 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        cfg.addCapability(0x09, new byte[14]);
        cfg.setInterruptPin(1);
        return cfg;
    }

    @Provide
    Arbitrary<List<CfgWrite>> cfgWrites() {
        return Combinators.combine(Arbitraries.integers().between(-8, 264),
                Arbitraries.integers().between(-1, 6),
                Arbitraries.oneOf(Arbitraries.integers(), Arbitraries.of(-1, 0)))
                .as(CfgWrite::new).list().ofMaxSize(200);
    }

    @Provide
    Arbitrary<List<AccessOp>> ioOps() {
        // Mix CONFIG_ADDRESS values that hit real devices with random ones.
        Arbitrary<AccessOp> select = Combinators.combine(Arbitraries.integers().between(0, 2),
                Arbitraries.integers().between(0, 3), Arbitraries.integers().between(0, 63))
                .as((bus, dev, reg) -> new AccessOp(true, 0, 4, 0x8000_0000L | bus << 16 | dev << 11 | reg << 2));
        return Arbitraries.frequencyOf(Tuple.of(1, select), Tuple.of(3, AccessOp.single(-2, 9)))
                .list().ofMaxSize(300);
    }

    @Provide
    Arbitrary<List<AccessOp>> hostileIoOps() {
        return AccessOp.hostileSequences(-2, 9);
    }

    @Property(tries = 300)
    void readOnlyFieldsSurviveAnyWrites(@ForAll("cfgWrites") List<CfgWrite> writes) {
        PciConfigSpace cfg = sampleConfig();
        int[] before = new int[PciConfigSpace.DWORDS];
        for (int i = 0; i < before.length; i++) {
            before[i] = cfg.readDword(i);
        }
        for (CfgWrite w : writes) {
            cfg.write(w.offset(), w.size(), w.value());
        }
        assertThat(cfg.readDword(0)).isEqualTo(before[0]); // IDs
        assertThat(cfg.readDword(2)).isEqualTo(before[2]); // class, revision
        assertThat(cfg.readDword(3) & 0xffff_ff00).isEqualTo(before[3] & 0xffff_ff00); // header type, BIST, latency
        assertThat(cfg.readDword(11)).isEqualTo(before[11]); // subsystem
        assertThat(cfg.readDword(13)).isEqualTo(before[13]); // capabilities pointer
        assertThat(cfg.command() & ~0x0547).isZero();
        assertThat(cfg.readDword(4) & 0x3).isEqualTo(0x1); // I/O BAR type bits
        assertThat(cfg.readDword(5) & 0xfff).isZero(); // 4 KiB memory BAR
        assertThat(cfg.readDword(6) & 0x3fff).isEqualTo(0xc); // 64-bit prefetchable, 16 KiB
        for (PciBar bar : cfg.bars()) {
            long mapped = cfg.mappedAddress(bar.index());
            assertThat(mapped == PciBar.UNMAPPED || mapped % bar.size() == 0).isTrue();
        }
        // The capability list still walks to the end.
        int p = cfg.read(PciConfigSpace.CAPABILITIES_POINTER, 1);
        int hops = 0;
        while (p != 0 && hops++ < 10) {
            p = cfg.read(p + 1, 1);
        }
        assertThat(hops).isEqualTo(2);
    }

    @Property(tries = 300)
    void configIoNeverThrowsAndReadsStayInRange(@ForAll("ioOps") List<AccessOp> ops) {
        PciRoot root = new PciRoot();
        PciConfigSpace cfg = sampleConfig();
        root.add(() -> cfg);
        PciConfigIo io = new PciConfigIo(root);
        for (AccessOp op : ops) {
            long v = op.applyTo(io);
            if (!op.write()) {
                assertThat(v & ~AccessOp.mask(op.size())).isZero();
            }
        }
        assertThat(root.readConfig(0, 1, 0, 0)).isEqualTo(0x1041_1af4);
    }

    @Property(tries = 200)
    void configIoSurvivesHostileSizes(@ForAll("hostileIoOps") List<AccessOp> ops) {
        PciRoot root = new PciRoot();
        root.add(PciProperties::sampleConfig);
        PciConfigIo io = new PciConfigIo(root);
        io.write(0, 4, 0x8000_0800L);
        for (AccessOp op : ops) {
            op.applyTo(io);
        }
        assertThat(root.readConfig(0, 0, 0, 0)).isEqualTo(PciHostBridge.DEVICE_ID << 16 | PciHostBridge.VENDOR_INTEL);
    }
}
