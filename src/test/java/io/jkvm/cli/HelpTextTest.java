package io.jkvm.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** `jkvm --help` lists each command with the first line of its description: that line must stand alone. */
class HelpTextTest {
    @Test
    void everyCommandsSummaryLineIsACompleteSentence() {
        List<String> problems = new ArrayList<>();
        collect(Cli.commandLine(), problems);
        assertThat(problems).isEmpty();
    }

    private static void collect(CommandLine cl, List<String> problems) {
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (sub.getCommandSpec().usageMessage().hidden() || sub.getCommand() instanceof CommandLine.HelpCommand) {
                continue;
            }
            String[] d = sub.getCommandSpec().usageMessage().description();
            String name = sub.getCommandSpec().qualifiedName();
            if (d.length == 0 || d[0].isBlank()) {
                problems.add(name + ": no description");
            } else if (!d[0].strip().endsWith(".")) {
                problems.add(name + ": summary line does not end a sentence: " + d[0]);
            }
            collect(sub, problems);
        }
    }
}
