package io.jkvm.cli;

import io.jkvm.kvm.KvmDevice;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code jkvm} command. */
@Command(name = "jkvm", mixinStandardHelpOptions = true, version = "jkvm " + io.jkvm.api.Versions.JKVM,
        description = "A KVM virtual machine monitor and manager.",
        subcommands = {RunCommand.class, FirecrackerCommand.class, JailerCommand.class, MigrateCommand.class, VmCommand.class, DaemonCommand.class, DemoCommand.class, HostCheckCommand.class,
                LabCommand.class, ImageCommand.class, SnapshotCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** The KVM device setting, for every subcommand (environment: JKVM_KVM_DEVICE). */
    @CommandLine.Option(names = "--kvm-device", paramLabel = "PATH", scope = CommandLine.ScopeType.INHERIT,
            description = "The KVM device to open (default: $JKVM_KVM_DEVICE, else /dev/kvm).")
    void kvmDevice(String path) {
        if (path.isBlank()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--kvm-device: empty path");
        }
        System.setProperty(KvmDevice.PROPERTY, path);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(Cli.execute(args));
    }
}
