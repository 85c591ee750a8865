package io.jkvm.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code jkvm} command. */
@Command(name = "jkvm", mixinStandardHelpOptions = true, version = "jkvm 0.1.0",
        description = "A KVM virtual machine monitor and manager.",
        subcommands = {RunCommand.class, MigrateCommand.class, VmCommand.class, DaemonCommand.class, DemoCommand.class, HostCheckCommand.class,
                LabCommand.class, ImageCommand.class, SnapshotCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(Cli.execute(args));
    }
}
