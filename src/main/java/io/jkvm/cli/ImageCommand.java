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
        subcommands = {ImageCommand.Build.class, ImageCommand.Info.class})
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
}
