package io.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static io.jkvm.kvm.KvmIoctls.*;

/** The /dev/kvm system handle: API version, capabilities, supported CPUID and MSRs, VM creation. */
public final class Kvm implements AutoCloseable {
    /** The only stable KVM API version (api.rst, KVM_GET_API_VERSION). */
    public static final int API_VERSION = 12;

    private final int fd;

    private Kvm(int fd) {
        this.fd = fd;
    }

    /** Opens the configured KVM device ({@link KvmDevice#path()}, normally /dev/kvm) and checks the API version. */
    public static Kvm open() {
        return open(KvmDevice.path().toString());
    }

    public static Kvm open(String path) {
        int fd = Native.open(path, Native.O_RDWR | Native.O_CLOEXEC);
        Kvm kvm = new Kvm(fd);
        int v = kvm.apiVersion();
        if (v != API_VERSION) {
            kvm.close();
            throw new IllegalStateException("KVM_GET_API_VERSION returned " + v + ", jkvm needs " + API_VERSION);
        }
        return kvm;
    }

    public int fd() {
        return fd;
    }

    public int apiVersion() {
        return Native.ioctl(fd, KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION");
    }

    /** KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific positive value. */
    public int checkExtension(int cap) {
        return Native.ioctl(fd, KVM_CHECK_EXTENSION, cap, "KVM_CHECK_EXTENSION");
    }

    public int vcpuMmapSize() {
        return Native.ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    }

    /** Recommended vCPU count (KVM_CAP_NR_VCPUS), 4 if unreported (api.rst). */
    public int recommendedVcpus() {
        int n = checkExtension(KVM_CAP_NR_VCPUS);
        return n > 0 ? n : 4;
    }

    /** Maximum vCPUs per VM (KVM_CAP_MAX_VCPUS), falling back to the recommended count (api.rst). */
    public int maxVcpus() {
        int n = checkExtension(KVM_CAP_MAX_VCPUS);
        return n > 0 ? n : recommendedVcpus();
    }

    /** KVM_GET_SUPPORTED_CPUID: the CPUID leaves KVM can present to a guest on this host. */
    public List<CpuidEntry> supportedCpuid() {
        int n = 256;
        while (true) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = a.allocate(8L + (long) n * KvmStructs.CPUID_ENTRY2_SIZE, 8);
                buf.set(ValueLayout.JAVA_INT, 0, n);
                try {
                    Native.ioctl(fd, KVM_GET_SUPPORTED_CPUID, buf, "KVM_GET_SUPPORTED_CPUID");
                } catch (KvmException e) {
                    if (e.errno() == 7 /* E2BIG */ && n < 4096) {
                        n *= 2;
                        continue;
                    }
                    throw e;
                }
                return CpuidCodec.decode(buf);
            }
        }
    }

    /** KVM_GET_MSR_INDEX_LIST: MSRs whose state KVM saves and restores for a guest. */
    public int[] msrIndexList() {
        int n = 512;
        while (true) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = a.allocate(4L + 4L * n, 4);
                buf.set(ValueLayout.JAVA_INT, 0, n);
                try {
                    Native.ioctl(fd, KVM_GET_MSR_INDEX_LIST, buf, "KVM_GET_MSR_INDEX_LIST");
                } catch (KvmException e) {
                    if (e.errno() == 7 && n < 16384) {
                        n *= 2;
                        continue;
                    }
                    throw e;
                }
                int count = buf.get(ValueLayout.JAVA_INT, 0);
                int[] out = new int[count];
                for (int i = 0; i < count; i++) {
                    out[i] = buf.get(ValueLayout.JAVA_INT, 4L + 4L * i);
                }
                return out;
            }
        }
    }

    public VmFd createVm() {
        int vmfd = Native.ioctl(fd, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
        return new VmFd(this, vmfd);
    }

    @Override
    public void close() {
        Native.close(fd);
    }

    /** Encodes and decodes struct kvm_cpuid2 arrays. */
    static final class CpuidCodec {
        private CpuidCodec() {}

        static List<CpuidEntry> decode(MemorySegment buf) {
            int count = buf.get(ValueLayout.JAVA_INT, 0);
            List<CpuidEntry> out = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                long o = 8L + (long) i * KvmStructs.CPUID_ENTRY2_SIZE;
                out.add(new CpuidEntry(
                        buf.get(ValueLayout.JAVA_INT, o), buf.get(ValueLayout.JAVA_INT, o + 4),
                        buf.get(ValueLayout.JAVA_INT, o + 8), buf.get(ValueLayout.JAVA_INT, o + 12),
                        buf.get(ValueLayout.JAVA_INT, o + 16), buf.get(ValueLayout.JAVA_INT, o + 20),
                        buf.get(ValueLayout.JAVA_INT, o + 24)));
            }
            return out;
        }

        static MemorySegment encode(Arena a, List<CpuidEntry> entries) {
            MemorySegment buf = a.allocate(8L + (long) entries.size() * KvmStructs.CPUID_ENTRY2_SIZE, 8);
            buf.set(ValueLayout.JAVA_INT, 0, entries.size());
            for (int i = 0; i < entries.size(); i++) {
                CpuidEntry e = entries.get(i);
                long o = 8L + (long) i * KvmStructs.CPUID_ENTRY2_SIZE;
                buf.set(ValueLayout.JAVA_INT, o, e.function());
                buf.set(ValueLayout.JAVA_INT, o + 4, e.index());
                buf.set(ValueLayout.JAVA_INT, o + 8, e.flags());
                buf.set(ValueLayout.JAVA_INT, o + 12, e.eax());
                buf.set(ValueLayout.JAVA_INT, o + 16, e.ebx());
                buf.set(ValueLayout.JAVA_INT, o + 20, e.ecx());
                buf.set(ValueLayout.JAVA_INT, o + 24, e.edx());
            }
            return buf;
        }
    }
}
