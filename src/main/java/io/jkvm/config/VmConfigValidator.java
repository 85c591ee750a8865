package io.jkvm.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Checks a VM's settings against the files and the host before anything is created, and says
 * exactly which setting is wrong and why.
 */
public final class VmConfigValidator {
    /** Below this Linux will not get to userspace with an initramfs. */
    public static final long MIN_MEMORY = 32L << 20;
    /** x86 COMMAND_LINE_SIZE. */
    public static final int MAX_CMDLINE = 2048;

    /**
     * What each setting is called where the user wrote it, so a message names the flag
     * ({@code --memory}) or the API field ({@code mem_size_mib}) the user actually typed.
     */
    public record FieldNames(String kernel, String initrd, String cmdline, String cpus, String memory) {
        public static final FieldNames CLI = new FieldNames("--kernel", "--initrd", "--cmdline", "--cpus", "--memory");
    }

    private final HostLimits limits;

    public VmConfigValidator(HostLimits limits) {
        this.limits = limits;
    }

    public VmConfig validate(Path kernel, Path initrd, String cmdline, int cpus, String memory,
                             OnReboot onReboot, boolean nested) {
        return validate(FieldNames.CLI, kernel, initrd, cmdline, cpus, memory, onReboot, nested);
    }

    public VmConfig validate(FieldNames names, Path kernel, Path initrd, String cmdline, int cpus, String memory,
                             OnReboot onReboot, boolean nested) {
        requireReadableFile(names.kernel(), kernel);
        String kind = kernelKind(names.kernel(), kernel);
        if (kind == null) {
            throw new ConfigException(names.kernel() + " " + kernel + ": not a kernel image (neither a bzImage nor an ELF vmlinux)");
        }
        if (initrd != null) {
            requireReadableFile(names.initrd(), initrd);
        }
        if (cpus < 1 || cpus > limits.maxVcpus()) {
            throw new ConfigException(names.cpus() + " " + cpus + ": must be between 1 and " + limits.maxVcpus()
                    + " (the most KVM allows per VM on this host)");
        }
        long mem;
        try {
            mem = Size.parse(memory);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(names.memory() + " " + memory + ": " + e.getMessage());
        }
        if (mem < MIN_MEMORY) {
            throw new ConfigException(names.memory() + " " + memory + ": too small, the minimum is " + Size.format(MIN_MEMORY));
        }
        if ((mem & 0xfff) != 0) {
            throw new ConfigException(names.memory() + " " + memory + ": must be a multiple of 4 KiB");
        }
        if (mem > limits.hostMemoryBytes()) {
            throw new ConfigException(names.memory() + " " + memory + ": more than this host's "
                    + Size.format(limits.hostMemoryBytes() & ~0xfffffL) + " of RAM");
        }
        if (cmdline.length() >= MAX_CMDLINE) {
            throw new ConfigException(names.cmdline() + ": " + cmdline.length() + " characters, the limit is " + (MAX_CMDLINE - 1));
        }
        if (cmdline.chars().anyMatch(c -> c < 0x20 || c > 0x7e)) {
            throw new ConfigException(names.cmdline() + ": contains control or non-ASCII characters");
        }
        return new VmConfig(kernel, Optional.ofNullable(initrd), cmdline, cpus, mem, onReboot, nested);
    }

    private static void requireReadableFile(String option, Path p) {
        if (!Files.exists(p)) {
            throw new ConfigException(option + " " + p + ": no such file");
        }
        if (Files.isDirectory(p)) {
            throw new ConfigException(option + " " + p + ": is a directory");
        }
        if (!Files.isReadable(p)) {
            throw new ConfigException(option + " " + p + ": not readable (permission denied)");
        }
    }

    /** "bzImage", "elf", or null; reads only the first bytes. */
    static String kernelKind(Path kernel) {
        return kernelKind(FieldNames.CLI.kernel(), kernel);
    }

    private static String kernelKind(String option, Path kernel) {
        byte[] head = new byte[0x210];
        int n;
        try (InputStream in = Files.newInputStream(kernel)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new ConfigException(option + " " + kernel + ": cannot read: " + e.getMessage());
        }
        if (n >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F') {
            return "elf";
        }
        if (n >= 0x206 && head[0x202] == 'H' && head[0x203] == 'd' && head[0x204] == 'r' && head[0x205] == 'S') {
            return "bzImage";
        }
        return null;
    }
}
