package io.jkvm.cli;

import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.image.DefaultImage;
import io.jkvm.image.JkvmHome;
import io.jkvm.lab.HostSetup;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabOptions;
import io.jkvm.lab.LabResult;
import io.jkvm.vmm.HostCheck;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code jkvm demo}: the whole path from a fresh machine to a booted Linux VM with no input.
 * Installs missing Debian packages (as root), builds the default guest image, asks host-check
 * whether stock guests run here, and boots the default guest directly or in the lab, saying
 * which and why. The guest prints what it sees (CPUs, memory, date) and powers off.
 */
@Command(name = "demo", description = {"Boot the default Linux guest, with no input: directly if this host runs stock guests, else in the lab.",
        "Installs the Debian packages and builds the guest image it needs first."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--cpus", paramLabel = "N", description = "vCPUs (default: ${DEFAULT-VALUE}).")
    int cpus = 2;

    @Option(names = "--memory", paramLabel = "SIZE", description = "Guest RAM (default: ${DEFAULT-VALUE}).")
    String memory = "512M";

    @Override
    public Integer call() throws Exception {
        List<String> missing = HostSetup.missingPackages();
        if (!missing.isEmpty()) {
            say("installing Debian packages: " + String.join(" ", missing));
            HostSetup.installIfPossible();
            missing = HostSetup.missingPackages();
            if (!missing.isEmpty()) {
                throw new UserError("missing Debian packages: " + String.join(" ", missing) + " (install them as root)");
            }
        }
        Path kernel = DefaultImage.defaultKernel()
                .orElseThrow(() -> new UserError("no kernel in /boot: install linux-image-amd64"));
        say("building the default guest image for " + kernel.getFileName());
        Path initrd = DefaultImage.ensure(kernel);
        List<String> runArgs = new ArrayList<>(List.of("run", "--kernel", kernel.toString(), "--initrd", initrd.toString(),
                "--cpus", String.valueOf(cpus), "--memory", memory, "--on-reboot", OnReboot.EXIT.name().toLowerCase(),
                "--cmdline", VmConfig.DEFAULT_CMDLINE + " jkvm.demo"));
        HostCheck.Report check = HostCheck.run();
        if (check.kind().runsStockGuests()) {
            say("host-check: " + check.verdict() + " -> booting directly");
            return Cli.execute(runArgs.toArray(String[]::new));
        }
        Optional<String> noLab = Lab.availability();
        if (noLab.isPresent()) {
            throw new ExitCodeError(Cli.EXIT_FAILURE, "host-check: " + check.verdict() + "; and the lab cannot run here: "
                    + noLab.get());
        }
        say("host-check: " + check.verdict());
        say("-> booting in the lab (Linux on nested KVM inside an emulated AMD-V machine); this takes about a minute");
        List<String> cmd = new ArrayList<>(List.of("env", "JKVM_NO_BUILD=1",
                JkvmHome.get().resolve("bin/jkvm").toString()));
        cmd.addAll(runArgs);
        LabResult r = Lab.run(cmd, LabOptions.defaults().withTimeout(Duration.ofMinutes(15)),
                System.in, System.out, System.err);
        if (r.error() != null) {
            System.err.println("jkvm: lab: " + r.error());
        }
        say(String.format("lab finished: exit %d (lab machine up in %s, total %s)", r.exitCode(),
                seconds(r.boot()), seconds(r.total())));
        return r.exitCode();
    }

    private static String seconds(Duration d) {
        return d == null ? "-" : String.format("%.1f s", d.toMillis() / 1000.0);
    }

    private static void say(String line) {
        System.err.println("jkvm demo: " + line);
    }
}
