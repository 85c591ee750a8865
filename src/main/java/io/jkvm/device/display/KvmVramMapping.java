package io.jkvm.device.display;

import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.VmFd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * VRAM as a KVM memory slot of its own (KVM_SET_USER_MEMORY_REGION, api.rst 4.35), registered
 * with KVM_MEM_LOG_DIRTY_PAGES: the guest's pixel stores go straight to host memory without an
 * exit, and KVM_GET_DIRTY_LOG (api.rst 4.8) says which pages they touched.
 *
 * <p>A slot cannot change its guest address, so a BAR move deletes the slot (memory_size 0) and
 * creates it again at the new address; the dirty log starts empty then, so the first
 * {@link #collectDirty} after a (re)map reports "unknown" and the whole screen counts as damaged.
 * The slot number must not be used by anything else in the VM (guest RAM uses the lowest ones).
 */
public final class KvmVramMapping implements VramMapping {
    private static final Logger LOG = LoggerFactory.getLogger(KvmVramMapping.class);

    private final VmFd vm;
    private final int slot;
    private final Vram vram;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment bitmap;
    // Guarded by this: the vCPU thread moving the slot and the polling thread reading its log.
    private boolean mapped;
    private boolean fresh;
    private boolean closed;

    public KvmVramMapping(VmFd vm, int slot, Vram vram) {
        this.vm = Objects.requireNonNull(vm, "vm");
        this.vram = Objects.requireNonNull(vram, "vram");
        if (slot < 0 || slot > 0x7fff) {
            throw new IllegalArgumentException("memory slot " + slot + " out of range");
        }
        this.slot = slot;
        // ALIGN(pages, 64) / 8 bytes, as KVM_GET_DIRTY_LOG writes.
        this.bitmap = arena.allocate((vram.pages() + 63L) / 64 * 8, 8);
    }

    public int slot() {
        return slot;
    }

    @Override
    public synchronized void map(long guestAddress) {
        if (closed) {
            return;
        }
        unmapLocked();
        vm.setUserMemoryRegion(slot, KvmIoctls.KVM_MEM_LOG_DIRTY_PAGES, guestAddress, vram.memory());
        mapped = true;
        fresh = true;
    }

    @Override
    public synchronized void unmap() {
        unmapLocked();
    }

    private void unmapLocked() {
        if (mapped) {
            mapped = false;
            // The slot's dirty log goes with it: what the guest drew since the last collection is
            // unknown, so the next collection reports the whole VRAM as changed.
            fresh = true;
            try {
                vm.setUserMemoryRegion(slot, 0, 0, MemorySegment.NULL);
            } catch (RuntimeException e) {
                LOG.warn("display: cannot delete VRAM memory slot {}: {}", slot, e.toString());
            }
        }
    }

    @Override
    public synchronized boolean collectDirty(long[] out) {
        Arrays.fill(out, 0);
        if (!mapped) {
            if (fresh) {
                fresh = false;
                return false; // drawn just before the slot went: changed, where unknown
            }
            return true; // the guest cannot write VRAM it cannot reach
        }
        vm.getDirtyLog(slot, bitmap);
        if (fresh) {
            fresh = false;
            return false;
        }
        int words = (int) Math.min(out.length, bitmap.byteSize() / 8);
        MemorySegment.copy(bitmap, ValueLayout.JAVA_LONG, 0, out, 0, words);
        return true;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            unmapLocked();
            closed = true;
            arena.close();
        }
    }
}
