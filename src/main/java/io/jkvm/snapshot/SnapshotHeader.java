package io.jkvm.snapshot;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;

import java.util.List;

/**
 * The JSON header of a state file: what the snapshot is, the machine it needs, the memory file it
 * belongs to (length and MAC, which binds the two files), and where each section lies in the
 * payload. Authenticated with the rest of the state file.
 *
 * @param kind "full" (or absent: files written before Diff snapshots) or {@link #DIFF}
 * @param memory for a Diff, the complete RAM image at the snapshot (what the diff merged onto
 *        its base must be), not the diff file
 * @param diff the diff file, present exactly when {@code kind} is {@link #DIFF}
 * @param payloadNonce AES-GCM nonce of the payload (hex), null for {@link Protection#HMAC_SHA256}
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
record SnapshotHeader(int format, String snapshotId, String createdAt, String kind, MachineConfig config,
        Memory memory, Diff diff, List<Section> sections, String payloadNonce) {
    static final String FULL = "full";
    static final String DIFF = "diff";

    boolean isDiff() {
        return DIFF.equals(kind);
    }

    /**
     * A Diff memory file (Firecracker's snapshot_type "Diff"): the full guest size, sparse, with
     * only the {@code pages} runs written (at the same offsets as in a Full memory file).
     * {@code mac} is the HMAC-SHA256 of those runs' bytes in order, so {@code merge} can check
     * the diff before it touches the base.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record Diff(long length, String mac, List<PageRun> pages) {}

    /** {@code pages} 4 KiB pages from guest-physical {@code gpa}; see {@link DirtyRuns} for the rules. */
    record PageRun(long gpa, long pages) {}

    /**
     * The memory file: {@code length} bytes whose HMAC-SHA256 is {@code mac} (hex). The guest RAM
     * regions lie in the file one after another at {@code fileOffset}. With encryption the file is
     * a sequence of AES-GCM chunks of at most {@code chunkSize} plaintext bytes (never spanning
     * two regions), each followed by its 16-byte tag; {@code nonceBase} is hex.
     *
     * <p>{@code chunkMacs} (clear files, base64; absent in files written before lazy restore and
     * for guests over {@link MemoryFile#MAX_TABLE_CHUNKS} chunks): the first 16 bytes of the
     * HMAC-SHA256 of each {@link MemoryFile#CHUNK}-byte chunk of RAM (cut per region, as the
     * encrypted chunks are), in order. Restore checks each chunk against it on first touch
     * instead of reading the whole file up front ({@link MemoryChunks}).
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Memory(long length, String mac, List<Region> regions, Integer chunkSize, String nonceBase,
            String chunkMacs) {}

    record Region(long gpa, long size, long fileOffset) {}

    /** A named byte range of the (decrypted) payload: "kvm" or "device/NAME". */
    record Section(String name, long offset, long length) {}
}
