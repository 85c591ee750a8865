package io.jkvm.snapshot;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;

import java.util.List;

/**
 * The JSON header of a state file: what the snapshot is, the machine it needs, the memory file it
 * belongs to (length and MAC, which binds the two files), and where each section lies in the
 * payload. Authenticated with the rest of the state file.
 *
 * @param payloadNonce AES-GCM nonce of the payload (hex), null for {@link Protection#HMAC_SHA256}
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
record SnapshotHeader(int format, String snapshotId, String createdAt, MachineConfig config, Memory memory,
        List<Section> sections, String payloadNonce) {

    /**
     * The memory file: {@code length} bytes whose HMAC-SHA256 is {@code mac} (hex). The guest RAM
     * regions lie in the file one after another at {@code fileOffset}. With encryption the file is
     * a sequence of AES-GCM chunks of at most {@code chunkSize} plaintext bytes (never spanning
     * two regions), each followed by its 16-byte tag; {@code nonceBase} is hex.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Memory(long length, String mac, List<Region> regions, Integer chunkSize, String nonceBase) {}

    record Region(long gpa, long size, long fileOffset) {}

    /** A named byte range of the (decrypted) payload: "kvm" or "device/NAME". */
    record Section(String name, long offset, long length) {}
}
