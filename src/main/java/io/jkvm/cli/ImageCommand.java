package io.jkvm.cli;

import io.jkvm.image.DefaultImage;
import io.jkvm.image.Initramfs;
import io.jkvm.image.KernelModules;
import io.jkvm.image.KernelVersion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jkvm image ...}: guest images. */
@Command(name = "image", mixinStandardHelpOptions = true, description = "Guest images.",
        subcommands = {ImageCommand.Build.class, ImageCommand.Info.class, ImageCommand.Create.class,
            ImageCommand.Check.class, ImageCommand.Convert.class, ImageCommand.Commit.class})
public final class ImageCommand implements Runnable {
    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** {@code jkvm image build}: the default busybox initramfs for a kernel. */
    @Command(name = "build", mixinStandardHelpOptions = true, description = {
        "Build the default guest initramfs (busybox + virtio/vsock/ext4 modules) for a kernel.",
        "Rebuilt only when missing or older than its inputs. Prints the image path."})
    static final class Build implements Callable<Integer> {
        @Option(names = "--kernel", paramLabel = "PATH",
                description = "Guest kernel bzImage (default: newest /boot/vmlinuz-* with modules).")
        Path kernel;

        @Option(names = "--output", paramLabel = "PATH",
                description = "Output file (default: build/images/default-<release>.cpio.gz).")
        Path output;

        @Override
        public Integer call() throws IOException {
            Path k = kernel != null ? kernel : DefaultImage.defaultKernel().orElseThrow(() -> new UserError(
                    "no kernel in /boot with modules in /lib/modules (install linux-image-amd64 or pass --kernel)"));
            if (!Files.isRegularFile(k)) {
                throw new UserError("no such kernel: " + k);
            }
            String release = KernelVersion.of(k);
            Path out = output != null ? output : DefaultImage.defaultOutput(release);
            Initramfs recipe = DefaultImage.recipe(k);
            KernelModules.Resolution r = recipe.resolution();
            recipe.ensure(out);
            System.err.printf("jkvm: image for %s: %d modules%s%s%n", release, r.files().size(),
                    r.builtin().isEmpty() ? "" : ", built in: " + String.join(" ", r.builtin()),
                    r.missing().isEmpty() ? "" : ", not available: " + String.join(" ", r.missing()));
            System.out.println(out.toAbsolutePath());
            return 0;
        }
    }

    /**
     * {@code jkvm image info FILE}: the format, virtual size, cluster size and backing chain of a
     * disk image, opened read-only exactly as the VMM would open it (backing files only in the
     * image's directory), so a chain the VMM would refuse is refused here with the same message.
     */
    @Command(name = "info", mixinStandardHelpOptions = true, description = {
        "Show a disk image's format, virtual size, cluster size and backing chain.",
        "The format is read from the file for display only; the VMM is always told it (--disk format=)."})
    static final class Info implements Callable<Integer> {
        @picocli.CommandLine.Parameters(paramLabel = "FILE", description = "The image.")
        Path file;

        @Override
        public Integer call() {
            io.jkvm.storage.DiskFormat format;
            try {
                format = io.jkvm.storage.ImageInfo.looksLikeQcow2(file) ? io.jkvm.storage.DiskFormat.QCOW2
                        : io.jkvm.storage.DiskFormat.RAW;
            } catch (IOException e) {
                throw new UserError("image info: " + e.getMessage());
            }
            try (io.jkvm.storage.DiskImage image = io.jkvm.storage.DiskImages.open(file, format, true,
                    io.jkvm.storage.BackingPolicy.TOP_DIRECTORY)) {
                System.out.print(io.jkvm.storage.ImageInfo.describe(image));
                return 0;
            } catch (IOException e) {
                throw new UserError("image info: " + e.getMessage());
            }
        }
    }

    /** {@code jkvm image create}: a new raw (sparse) or qcow2 (version 3) image; see {@link io.jkvm.storage.ImageCreator}. */
    @Command(name = "create", mixinStandardHelpOptions = true, description = {
        "Create a disk image: raw (a sparse file) or qcow2 (version 3, 16-bit refcounts).",
        "SIZE is bytes or a number with K, M, G, T, P, E (powers of 1024); with -b it defaults to the backing image's size.",
        "Unlike qemu-img, an existing FILE is refused unless --force (and a FILE in use by a VM is never overwritten)."})
    static final class Create implements Callable<Integer> {
        @Option(names = "-f", paramLabel = "FMT", required = true, description = "raw or qcow2.")
        String format;

        @picocli.CommandLine.Parameters(index = "0", paramLabel = "FILE", description = "The image to create.")
        Path file;

        @picocli.CommandLine.Parameters(index = "1", arity = "0..1", paramLabel = "SIZE", description = "Virtual size.")
        String size;

        @Option(names = "-b", paramLabel = "BACKING",
                description = "qcow2 only: backing file, stored as given (relative to FILE's directory).")
        String backing;

        @Option(names = "-F", paramLabel = "FMT", description = "The backing file's format, raw or qcow2 (required with -b).")
        String backingFormat;

        @Option(names = "--cluster-size", paramLabel = "N",
                description = "qcow2 only: a power of two from 512 to 2M (default 64K).")
        String clusterSize;

        @Option(names = "--force", description = "Overwrite an existing FILE (if no one holds its lock).")
        boolean force;

        @Override
        public Integer call() {
            try {
                io.jkvm.storage.DiskFormat f = parseFormat("image create", "-f", format);
                io.jkvm.storage.DiskFormat bf = backingFormat == null ? null : parseFormat("image create", "-F", backingFormat);
                if (size == null && backing == null) {
                    throw new UserError("image create: SIZE is required without -b");
                }
                long bytes = size == null ? 0 : io.jkvm.storage.ImageCreator.parseSize("SIZE", size);
                if (size != null && bytes == 0) {
                    throw new UserError("image create: SIZE must be more than 0 bytes");
                }
                long cs = clusterSize == null ? 0 : io.jkvm.storage.ImageCreator.parseSize("--cluster-size", clusterSize);
                if (clusterSize != null && (cs <= 0 || cs > Integer.MAX_VALUE)) {
                    throw new UserError("image create: --cluster-size " + clusterSize + " must be a power of two from 512 to 2M");
                }
                long made = io.jkvm.storage.ImageCreator.create(new io.jkvm.storage.ImageCreator.Request(
                        file, f, bytes, backing, bf, (int) cs, force));
                if (backing != null && !io.jkvm.storage.ImageCreator.backingInImageDirectory(file, backing)) {
                    System.err.println("jkvm: note: " + backing + " is outside " + file
                            + "'s directory; the VMM follows backing files only from there by default");
                }
                System.out.println("created " + file + ": " + f.id() + ", " + made + " bytes");
                return 0;
            } catch (IllegalArgumentException e) {
                throw new UserError("image create: " + e.getMessage());
            } catch (IOException e) {
                throw new UserError("image create: " + e.getMessage());
            }
        }
    }

    /** {@code jkvm image check [-r leaks|all] FILE}: a metadata check with qemu-img check's exit statuses. */
    @Command(name = "check", mixinStandardHelpOptions = true, description = {
        "Check a qcow2 image's metadata, as qemu-img check does.",
        "Refcounts against references (leaks, corruptions); entries with reserved bits, unaligned or past the end",
        "of the file; overlapping metadata; data clusters on metadata; COPIED flags. Nothing is written without -r.",
        "Exit status as qemu-img check (after a repair: of the check that follows it): 0 clean, 1 check not",
        "completed, 2 corruptions, 3 leaks only."})
    static final class Check implements Callable<Integer> {
        @Option(names = "-r", paramLabel = "leaks|all", description = {
            "Repair: leaks frees leaked clusters (only on an image with no errors); all also raises refcounts",
            "that are too low and sets COPIED flags to match (only when refcounts and COPIED flags are the",
            "only errors). Takes the image's",
            "exclusive lock: not while a VM uses it."})
        String repair;

        @picocli.CommandLine.Parameters(paramLabel = "FILE", description = "The qcow2 image.")
        Path file;

        @Override
        public Integer call() {
            io.jkvm.storage.Qcow2Checker.Repair mode = null;
            if (repair != null) {
                try {
                    mode = io.jkvm.storage.Qcow2Checker.Repair.parse(repair);
                } catch (IllegalArgumentException e) {
                    throw new UserError("image check: " + e.getMessage());
                }
            }
            io.jkvm.storage.Qcow2Checker.Report r;
            io.jkvm.storage.Qcow2Checker.Repaired fixed = null;
            try {
                if (!Files.isRegularFile(file)) {
                    throw new ExitCodeError(1, "image check: " + file + " does not exist or is not a regular file");
                }
                if (!io.jkvm.storage.ImageInfo.looksLikeQcow2(file)) {
                    throw new ExitCodeError(1, "image check: " + file + " is not a qcow2 image (raw images have no metadata to check)");
                }
                if (mode == null) {
                    r = io.jkvm.storage.Qcow2Checker.check(file);
                } else {
                    fixed = io.jkvm.storage.Qcow2Checker.repair(file, mode);
                    r = fixed.after();
                }
            } catch (IOException e) {
                throw new ExitCodeError(1, "image check: " + e.getMessage());
            }
            if (r.incomplete() != null) {
                throw new ExitCodeError(1, "image check: not completed: " + r.incomplete());
            }
            if (fixed != null && fixed.refused() != null) {
                r.lines().forEach(System.out::println);
                System.err.println("image check: not repaired: " + fixed.refused());
                return r.exitCode();
            }
            if (fixed != null && fixed.leaksFixed() + fixed.errorsFixed() > 0) {
                System.out.println("Repaired: " + fixed.leaksFixed() + " leaked cluster(s), " + fixed.errorsFixed()
                        + " refcount error(s). The check after the repair:");
            }
            r.lines().forEach(System.out::println);
            return r.exitCode();
        }
    }

    /** {@code jkvm image convert}: a new image with SRC's guest-visible contents. */
    @Command(name = "convert", mixinStandardHelpOptions = true, description = {
        "Copy a disk image's contents (a qcow2 SRC read through its backing chain) into a new image DST.",
        "A qcow2 DST allocates only clusters that are not all zeroes; a raw DST is sparse where the data is zero.",
        "SRC's format is read from its first bytes unless -f is given; backing files only from SRC's directory.",
        "An existing DST is refused unless --force."})
    static final class Convert implements Callable<Integer> {
        @Option(names = "-f", paramLabel = "FMT", description = "SRC's format, raw or qcow2.")
        String sourceFormat;

        @Option(names = "-O", paramLabel = "FMT", required = true, description = "DST's format, raw or qcow2.")
        String outputFormat;

        @Option(names = "--cluster-size", paramLabel = "N", description = "qcow2 DST only (default 64K).")
        String clusterSize;

        @Option(names = "--force", description = "Overwrite an existing DST (if no one holds its lock).")
        boolean force;

        @picocli.CommandLine.Parameters(index = "0", paramLabel = "SRC", description = "The image to read.")
        Path src;

        @picocli.CommandLine.Parameters(index = "1", paramLabel = "DST", description = "The image to create.")
        Path dst;

        @Override
        public Integer call() {
            try {
                io.jkvm.storage.DiskFormat out = parseFormat("image convert", "-O", outputFormat);
                io.jkvm.storage.DiskFormat in;
                if (sourceFormat != null) {
                    in = parseFormat("image convert", "-f", sourceFormat);
                } else {
                    if (!Files.isRegularFile(src)) {
                        throw new UserError("image convert: SRC " + src + " does not exist or is not a regular file");
                    }
                    in = io.jkvm.storage.ImageInfo.looksLikeQcow2(src) ? io.jkvm.storage.DiskFormat.QCOW2
                            : io.jkvm.storage.DiskFormat.RAW;
                }
                long cs = clusterSize == null ? 0 : io.jkvm.storage.ImageCreator.parseSize("--cluster-size", clusterSize);
                if (clusterSize != null && (cs <= 0 || cs > Integer.MAX_VALUE)) {
                    throw new UserError("image convert: --cluster-size " + clusterSize + " must be a power of two from 512 to 2M");
                }
                long size = io.jkvm.storage.ImageConverter.convert(src, in, dst, out, (int) cs, force);
                System.out.println("converted " + src + " (" + in.id() + ") to " + dst + " (" + out.id() + ", " + size + " bytes)");
                return 0;
            } catch (IllegalArgumentException | IOException e) {
                throw new UserError("image convert: " + e.getMessage());
            }
        }
    }

    /** {@code jkvm image commit OVERLAY}: the overlay's clusters into its backing file. */
    @Command(name = "commit", mixinStandardHelpOptions = true, description = {
        "Write the clusters a qcow2 OVERLAY holds into its backing file.",
        "The backing file (raw or qcow2, writable, not in use, at least OVERLAY's size) then reads as OVERLAY",
        "did. OVERLAY is left unchanged (as qemu-img commit -d); other overlays",
        "of the same backing file see the change too. Backing files only from OVERLAY's directory."})
    static final class Commit implements Callable<Integer> {
        @picocli.CommandLine.Parameters(paramLabel = "OVERLAY", description = "The qcow2 overlay.")
        Path overlay;

        @Override
        public Integer call() {
            try {
                if (!Files.isRegularFile(overlay) || !io.jkvm.storage.ImageInfo.looksLikeQcow2(overlay)) {
                    throw new UserError("image commit: OVERLAY " + overlay + " is not a qcow2 image");
                }
                long bytes = io.jkvm.storage.ImageConverter.commit(overlay);
                System.out.println("committed " + bytes + " bytes of " + overlay + " into its backing file");
                return 0;
            } catch (IllegalArgumentException | IOException e) {
                throw new UserError("image commit: " + e.getMessage());
            }
        }
    }

    static io.jkvm.storage.DiskFormat parseFormat(String command, String option, String value) {
        return switch (value) {
            case "raw" -> io.jkvm.storage.DiskFormat.RAW;
            case "qcow2" -> io.jkvm.storage.DiskFormat.QCOW2;
            default -> throw new UserError(command + ": " + option + " must be raw or qcow2, not '" + value + "'");
        };
    }
}
