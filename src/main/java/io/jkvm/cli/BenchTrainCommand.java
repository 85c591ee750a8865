package io.jkvm.cli;

import io.jkvm.bench.AotTraining;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/**
 * {@code jkvm bench train}: the workload bin/jkvm records to build its AOT cache (JEP 483/514/515):
 * a short direct guest (machine, vCPU thread, exits) and the first seconds of {@code jkvm run}
 * with the default kernel. Internal; run by the launcher with -XX:AOTCacheOutput.
 */
@Command(name = "train", hidden = true, description = "AOT training workload (internal to bin/jkvm).")
public final class BenchTrainCommand implements Callable<Integer> {
    @Override
    public Integer call() throws Exception {
        AotTraining.run(args -> Cli.execute(args));
        return 0;
    }
}
