package io.jkvm.cli;

import picocli.CommandLine;

/** Builds the command line and maps errors to one clear line and a non-zero exit. */
public final class Cli {
    /** Exit status for a usage or configuration error. */
    public static final int EXIT_USAGE = 2;
    /** Exit status for a failure while running. */
    public static final int EXIT_FAILURE = 1;

    private Cli() {}

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        addHelpOptions(cl);
        // `jkvm lab run ARGS` forwards jkvm run's options untouched.
        cl.getSubcommands().get("lab").getSubcommands().get("run").setUnmatchedOptionsArePositionalParams(true);
        cl.setParameterExceptionHandler((ex, args) -> {
            ex.getCommandLine().getErr().println("jkvm: " + ex.getMessage());
            return EXIT_USAGE;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            commandLine.getErr().println("jkvm: " + describe(ex));
            if (System.getenv("JKVM_DEBUG") != null) {
                ex.printStackTrace(commandLine.getErr());
            }
            if (ex instanceof ExitCodeError e) {
                return e.exitCode();
            }
            return ex instanceof UserError ? EXIT_USAGE : EXIT_FAILURE;
        });
        return cl;
    }

    /** Every subcommand answers -h/--help (and -V), not just the top-level command. */
    private static void addHelpOptions(CommandLine cl) {
        cl.getCommandSpec().mixinStandardHelpOptions(true);
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (!(sub.getCommand() instanceof CommandLine.HelpCommand)) {
                addHelpOptions(sub);
            }
        }
    }

    public static int execute(String... args) {
        return commandLine().execute(args);
    }

    static String describe(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
    }
}
