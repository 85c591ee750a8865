package io.jkvm.cli;

import io.jkvm.vmm.HostCheck;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** {@code jkvm host-check}: can this host run jkvm guests, and if not, why and what to do. */
@Command(name = "host-check", mixinStandardHelpOptions = true,
        description = {"Check whether this host can run jkvm virtual machines.",
                "Exit status: 0 usable; 3 KVM works but stock 64-bit guests cannot run (use the lab);",
                "4 KVM missing or unusable."})
public final class HostCheckCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        HostCheck.Report report = HostCheck.run();
        for (HostCheck.Check c : report.checks()) {
            System.out.printf("%-22s %-4s  %s%n", c.name(), c.status(), c.detail());
        }
        System.out.println();
        System.out.println(report.verdict());
        return report.exitCode();
    }
}
