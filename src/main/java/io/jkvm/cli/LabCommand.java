package io.jkvm.cli;

import io.jkvm.image.JkvmHome;
import io.jkvm.lab.HostSetup;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabOptions;
import io.jkvm.lab.LabResult;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jkvm lab ...}: run commands in an emulated AMD-V machine with real nested KVM. */
@Command(name = "lab", mixinStandardHelpOptions = true, description = {
    "Run commands in the lab, an emulated AMD-V machine with real nested KVM where stock Linux guests run.",
    "The lab is QEMU (TCG, EPYC with SVM) booting the host's kernel with kvm_amd, the host's root",
    "read-only, /tmp and the project writable. Exit status: the command's; 124 on timeout;",
    "125 when the lab itself failed."},
        subcommands = {LabCommand.Exec.class, LabCommand.Run.class})
public final class LabCommand implements Runnable {
    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Options shared by exec and run. */
    static final class LabArgs {
        @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "600",
                description = "Kill the lab after this many seconds (default ${DEFAULT-VALUE}).")
        long timeoutSeconds;

        @Option(names = "--idle-timeout", paramLabel = "SECONDS",
                description = "Kill the lab when the command and the lab machine print nothing for this long (default: no limit).")
        Long idleSeconds;

        @Option(names = "--kernel", paramLabel = "PATH", description = "L1 kernel (default: newest /boot/vmlinuz-*).")
        Path kernel;

        @Option(names = "--memory", paramLabel = "MiB", defaultValue = "4096", description = "L1 memory (default ${DEFAULT-VALUE}).")
        int memoryMib;

        @Option(names = "--cpus", defaultValue = "2", description = "L1 CPUs (default ${DEFAULT-VALUE}).")
        int cpus;

        @Option(names = "--share", paramLabel = "DIR", description = "Also share DIR writable (repeatable).")
        List<Path> shares = new ArrayList<>();

        @Option(names = "--no-tty", description = "Pipe mode even on a terminal (binary-clean, separate stderr).")
        boolean noTty;

        @Option(names = {"-v", "--verbose"}, description = "Print boot and total time to stderr.")
        boolean verbose;

        int execute(List<String> command) throws IOException {
            if (timeoutSeconds <= 0) {
                throw new UserError("--timeout must be positive");
            }
            if (idleSeconds != null && idleSeconds <= 0) {
                throw new UserError("--idle-timeout must be positive");
            }
            if (memoryMib < 512 || cpus < 1) {
                throw new UserError("the lab needs --memory >= 512 and --cpus >= 1");
            }
            List<String> missing = HostSetup.installIfPossible();
            if (!missing.isEmpty()) {
                System.err.println("jkvm lab: missing Debian packages: " + String.join(" ", missing)
                        + " (run bin/setup-host as root)");
                return Lab.EXIT_LAB_FAILURE;
            }
            var console = System.console();
            boolean tty = !noTty && console != null && console.isTerminal();
            LabOptions opts = LabOptions.defaults()
                    .withTimeout(Duration.ofSeconds(timeoutSeconds))
                    .withIdleTimeout(idleSeconds == null ? null : Duration.ofSeconds(idleSeconds))
                    .withKernel(kernel)
                    .withMachine(memoryMib, cpus)
                    .withShares(shares)
                    .withTty(tty);
            LabResult r = Lab.run(command, opts, System.in, System.out, System.err);
            System.out.flush();
            boolean debug = System.getenv("JKVM_DEBUG") != null;
            // A lab that failed (no boot, a timeout, an idle kill) shows what its machine printed last.
            if (debug || r.error() != null) {
                System.err.println("jkvm lab: L1 console (last lines):");
                System.err.println(tail(r.console(), debug ? 200 : 25));
            }
            if (r.error() != null) {
                System.err.println("jkvm lab: " + r.error());
            }
            if (verbose) {
                System.err.printf("jkvm lab: boot to command %s, total %s%n",
                        r.boot() == null ? "-" : seconds(r.boot()), seconds(r.total()));
            }
            return r.exitCode();
        }
    }

    static String seconds(Duration d) {
        return String.format("%.2f s", d.toNanos() / 1e9);
    }

    static String tail(String text, int lines) {
        String[] all = text.split("\r?\n");
        return String.join("\n", java.util.Arrays.copyOfRange(all, Math.max(0, all.length - lines), all.length));
    }

    /** {@code jkvm lab exec -- CMD...}. */
    @Command(name = "exec", mixinStandardHelpOptions = true, description = "Run CMD in the lab (e.g. jkvm lab exec -- sh -c 'test -c /dev/kvm').")
    static final class Exec implements Callable<Integer> {
        @Mixin LabArgs args;

        @Parameters(arity = "1..*", paramLabel = "CMD", description = "Command and arguments.")
        List<String> command;

        @Override
        public Integer call() throws IOException {
            return args.execute(command);
        }
    }

    /**
     * {@code jkvm lab run ARGS...}: {@code jkvm run ARGS...} inside the lab. Every argument that is
     * not a {@code --lab-*} option goes to {@code jkvm run} unchanged, so --memory, --cpus and
     * --kernel mean the guest's, exactly as for {@code jkvm run}.
     */
    @Command(name = "run", mixinStandardHelpOptions = true,
            description = {"Run 'jkvm run ARGS...' inside the lab (a VM on real nested KVM).",
                    "Lab settings use --lab-timeout, --lab-memory, --lab-cpus, --lab-verbose."})
    static final class Run implements Callable<Integer> {
        @Option(names = "--lab-timeout", paramLabel = "SECONDS", defaultValue = "600",
                description = "Kill the lab after this many seconds (default ${DEFAULT-VALUE}).")
        long timeoutSeconds;

        @Option(names = "--lab-memory", paramLabel = "MiB", defaultValue = "4096", description = "Lab machine memory (default ${DEFAULT-VALUE}).")
        int memoryMib;

        @Option(names = "--lab-cpus", defaultValue = "2", description = "Lab machine CPUs (default ${DEFAULT-VALUE}).")
        int cpus;

        @Option(names = "--lab-verbose", description = "Print lab boot and total time to stderr.")
        boolean verbose;

        @Parameters(arity = "0..*", paramLabel = "ARGS", description = "Arguments of jkvm run.")
        List<String> runArgs = new ArrayList<>();

        @Override
        public Integer call() throws IOException {
            LabArgs args = new LabArgs();
            args.timeoutSeconds = timeoutSeconds;
            args.memoryMib = memoryMib;
            args.cpus = cpus;
            args.verbose = verbose;
            List<String> cmd = new ArrayList<>(List.of(
                    "env", "JKVM_NO_BUILD=1", JkvmHome.get().resolve("bin/jkvm").toString(), "run"));
            cmd.addAll(runArgs);
            return args.execute(cmd);
        }
    }
}
