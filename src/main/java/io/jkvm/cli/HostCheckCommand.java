package io.jkvm.cli;

import io.jkvm.vmm.HostCheck;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** {@code jkvm host-check}: can this host run jkvm guests, and if not, why and what to do. */
@Command(name = "host-check", mixinStandardHelpOptions = true,
        description = {"Check whether this host can run jkvm virtual machines, and say what to do if not.",
                "Exit status: 0 stock Linux guests run here (hardware-assisted KVM, or slowly under nested or",
                "emulated virtualization); 3 KVM works but stock 64-bit guests cannot run on it (PVM-backed",
                "KVM: use the lab); 4 no usable KVM (no module, no device node, no driver, no permission)."})
public final class HostCheckCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        HostCheck.Report report = HostCheck.run();
        for (HostCheck.Check c : report.checks()) {
            System.out.printf("%-22s %-4s  %s%n", c.name(), c.status(), c.detail());
        }
        System.out.println();
        System.out.println("host kind: " + report.kind().name().toLowerCase().replace('_', '-'));
        System.out.println(report.verdict());
        return report.exitCode();
    }
}
