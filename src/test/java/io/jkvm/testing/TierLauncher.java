package io.jkvm.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.platform.engine.FilterResult;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.ClassNameFilter;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.PostDiscoveryFilter;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runs one test tier (a JUnit tag) of this project in this JVM and records a JSON line when each
 * test starts and one when it ends in a results file: how the direct-KVM tier runs inside the lab on a host without usable
 * KVM ({@code io.jkvm.labtests.KvmTierInLabTest} reads the file and reports each test). A line
 * on stdout per test start and end shows progress (the lab's idle watchdog needs it).
 *
 * <p>Usage: {@code TierLauncher TAG RESULTS_FILE}. Exit status 0 when the run completed (whatever
 * the tests' outcome, which the file holds), 2 on bad arguments.
 */
public final class TierLauncher {
    private TierLauncher() {}

    /** A regular expression of test class names: runs only those (e.g. {@code .*Daemon.*} to look at one failure). */
    public static final String CLASSES = "jkvm.tier.classes";
    /** "false": the child JVMs load their classes as the test JVM does (no packing, no shared archive; for comparison). */
    public static final String CHILD_CDS = "jkvm.tier.childCds";
    /**
     * A file of test methods ({@code Class.method}, one per line) this run leaves out: those a
     * previous lab machine already ran before it died, so a second machine runs only the rest.
     */
    public static final String SKIP_FILE = "jkvm.tier.skip";
    /** Without {@link #CLASSES}: the test classes surefire runs (pom.xml includes). */
    public static final String ALL_CLASSES = ".*Test|.*Tests|.*Properties";

    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length != 2) {
            System.err.println("usage: TierLauncher TAG RESULTS_FILE");
            System.exit(2);
        }
        String tag = args[0];
        Path results = Path.of(args[1]);
        calibrate();
        if (Boolean.parseBoolean(System.getProperty(CHILD_CDS, "true"))) {
            long t0 = System.nanoTime();
            Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
            ChildJvm.Setup setup = ChildJvm.pack(tmp);
            setup.install();
            System.out.printf("tier: class directories packed for the child JVMs' shared archive (%.1f s)%n",
                    (System.nanoTime() - t0) / 1e9);
            t0 = System.nanoTime();
            String warmUp = ChildArchiveWarmUp.run(Files.createDirectories(tmp.resolve("warm-up")), setup.archive());
            System.out.printf("tier: %s (%.1f s)%n", warmUp, (System.nanoTime() - t0) / 1e9);
        }
        TierStallWatch watch = TierStallWatch.install();
        LauncherDiscoveryRequest request = request(tag, System.getProperty(CLASSES, ALL_CLASSES),
                alreadyRun(System.getProperty(SKIP_FILE)));
        Launcher launcher = LauncherFactory.create();
        try (Writer out = Files.newBufferedWriter(results, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            execute(launcher, request, tag, out, watch);
        }
        // Tests may leave non-daemon threads (servers, VMM children's pumps): the run is over.
        System.exit(0);
    }

    /** The tier's tests: those tagged {@code tag} in classes matching {@code classes}, less what {@code skip} leaves out. */
    static LauncherDiscoveryRequest request(String tag, String classes, PostDiscoveryFilter skip) {
        return LauncherDiscoveryRequestBuilder.request()
                .selectors(DiscoverySelectors.selectPackage("io.jkvm"))
                .filters(TagFilter.includeTags(tag),
                        // The lab runners themselves carry the tag; they must not recurse.
                        ClassNameFilter.excludeClassNamePatterns(".*InLabTest"),
                        ClassNameFilter.includeClassNamePatterns(classes),
                        skip)
                // A hang detector per test, far above any test's needs even in the lab. On its own
                // thread, so a test stuck where an interrupt does not reach (a blocking read) is
                // abandoned and the rest of the tier still runs; TierStallWatch reports before.
                .configurationParameter("junit.jupiter.execution.timeout.default", "20 m")
                .configurationParameter("junit.jupiter.execution.timeout.thread.mode.default", "SEPARATE_THREAD")
                .build();
    }

    /**
     * The tier's test classes (fully qualified, sorted), as a run with the same {@code tag} and
     * {@code classes} would find them: what KvmTierInLabTest shares out between its lab machines.
     */
    public static List<String> classes(String tag, String classes) {
        TestPlan plan = LauncherFactory.create().discover(request(tag, classes, d -> FilterResult.included("all")));
        java.util.SortedSet<String> found = new java.util.TreeSet<>();
        for (TestIdentifier root : plan.getRoots()) {
            for (TestIdentifier t : plan.getDescendants(root)) {
                // Class containers too: a class of test factories or templates has no test until
                // it runs. A nested class goes with its top-level class (the lane's filter names that).
                Class<?> k = switch (t.getSource().orElse(null)) {
                    case MethodSource m -> m.getJavaClass();
                    case org.junit.platform.engine.support.descriptor.ClassSource c -> c.getJavaClass();
                    case null, default -> null;
                };
                while (k != null && k.isMemberClass() && !java.lang.reflect.Modifier.isStatic(k.getModifiers())) {
                    k = k.getEnclosingClass();
                }
                if (k != null) {
                    found.add(k.getName());
                }
            }
        }
        return List.copyOf(found);
    }

    /**
     * Runs {@code request}, recording to {@code out}, then each failed test method once more, as
     * surefire reruns the other tiers' failures: inside the lab, JVMs die now and then of
     * JIT-patched code under QEMU's multi-threaded TCG (a SIGSEGV at a compiled method's entry),
     * which says nothing about the test. The file keeps both outcomes (the retry's lines say
     * {@code "retry": true}); KvmTierInLabTest reports a pass on retry as such.
     */
    static void execute(Launcher launcher, LauncherDiscoveryRequest request, String tag, Writer out, TierStallWatch watch) {
        Recorder recorder = new Recorder(out, watch, false);
        launcher.execute(request, recorder);
        List<MethodSource> failed = recorder.failedMethods();
        if (failed.isEmpty()) {
            return;
        }
        System.out.println("tier: retrying " + failed.size() + " failed test method(s) once");
        LauncherDiscoveryRequest again = LauncherDiscoveryRequestBuilder.request()
                .selectors(failed.stream().map(m -> DiscoverySelectors.selectMethod(m.getClassName(),
                        m.getMethodName(), m.getMethodParameterTypes())).toList())
                .filters(TagFilter.includeTags(tag))
                .configurationParameter("junit.jupiter.execution.timeout.default", "20 m")
                .configurationParameter("junit.jupiter.execution.timeout.thread.mode.default", "SEPARATE_THREAD")
                .build();
        launcher.execute(again, new Recorder(out, watch, true));
    }

    /** Leaves out the test methods named in {@code skipFile} (none when it is null). */
    static PostDiscoveryFilter alreadyRun(String skipFile) throws IOException {
        Set<String> done = skipFile == null ? Set.of()
                : Set.copyOf(Files.readAllLines(Path.of(skipFile), StandardCharsets.UTF_8));
        return descriptor -> descriptor.getSource().orElse(null) instanceof MethodSource m
                && done.contains(methodKey(m))
                ? FilterResult.excluded("ran in an earlier lab machine")
                : FilterResult.included("not run yet");
    }

    /** {@code SimpleClassName.method}: how a test method is named in the results and the skip file. */
    public static String methodKey(MethodSource m) {
        return m.getClassName().substring(m.getClassName().lastIndexOf('.') + 1) + "." + m.getMethodName();
    }

    /**
     * Sets {@link Patience}'s factor: how much slower a JVM starts here than on the machine that
     * launched this run (whose figure arrives as {@value #HOST_JVM_START}), at least 3. Measured
     * rather than assumed, because the lab's speed differs between machines.
     */
    static void calibrate() {
        String host = System.getProperty(HOST_JVM_START);
        if (host == null || System.getProperty(Patience.PROPERTY) != null) {
            return;
        }
        double here = jvmStartMillis();
        double factor = Math.max(3, here / Math.max(1, Double.parseDouble(host)));
        System.setProperty(Patience.PROPERTY, String.format(java.util.Locale.ROOT, "%.1f", factor));
        // Migrations this JVM runs itself (a test's source VM) wait for their peer as long as
        // the VMMs the tests start do (JkvmCommand); read once, when the migration classes load.
        System.setProperty(Patience.MIGRATION_IO_TIMEOUT, String.valueOf(Patience.migrationIoTimeoutMillis()));
        System.out.printf("tier: patience x%.1f (a JVM starts in %.0f ms here, %s ms where this run was launched)%n",
                Patience.factor(), here, host);
    }

    /** System property: the launching machine's {@link #jvmStartMillis()}. */
    public static final String HOST_JVM_START = "jkvm.test.hostJvmStartMs";

    /** Median wall time of three {@code java -version} runs of this JDK, in milliseconds. */
    public static double jvmStartMillis() {
        double[] t = new double[3];
        for (int i = 0; i < t.length; i++) {
            long t0 = System.nanoTime();
            try {
                Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xshare:auto", "-version").redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                p.waitFor();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            t[i] = (System.nanoTime() - t0) / 1e6;
        }
        java.util.Arrays.sort(t);
        return t[1];
    }

    /** Writes a JSON line per finished or skipped test method (containers only when they fail). */
    private static final class Recorder implements TestExecutionListener {
        private static final ObjectMapper JSON = new ObjectMapper();
        private final Writer out;
        private final TierStallWatch watch;
        private final Map<String, Long> started = new ConcurrentHashMap<>();
        private final boolean retry;
        private final Map<String, MethodSource> failed = new java.util.LinkedHashMap<>();

        Recorder(Writer out, TierStallWatch watch, boolean retry) {
            this.out = out;
            this.watch = watch;
            this.retry = retry;
        }

        /** The test methods that failed (not those skipped or aborted), each once. */
        synchronized List<MethodSource> failedMethods() {
            return List.copyOf(failed.values());
        }

        @Override
        public void executionStarted(TestIdentifier id) {
            started.put(id.getUniqueId(), System.nanoTime());
            if (id.isTest()) {
                watch.started(name(id));
                // In the file too: a test started and never finished was in flight when the lab died.
                write(id, "STARTED", null, null, 0);
                System.out.println("tier: START " + name(id));
            }
        }

        @Override
        public void executionSkipped(TestIdentifier id, String reason) {
            write(id, "SKIPPED", reason, null, 0);
        }

        @Override
        public void executionFinished(TestIdentifier id, TestExecutionResult result) {
            long t0 = started.getOrDefault(id.getUniqueId(), System.nanoTime());
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (!id.isTest() && result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
                return;
            }
            String status = switch (result.getStatus()) {
                case SUCCESSFUL -> "PASSED";
                case ABORTED -> "ABORTED";
                case FAILED -> "FAILED";
            };
            Throwable t = result.getThrowable().orElse(null);
            if (status.equals("FAILED") && id.getSource().orElse(null) instanceof MethodSource m) {
                synchronized (this) {
                    failed.putIfAbsent(methodKey(m), m);
                }
            }
            write(id, status, t == null ? null : String.valueOf(t.getMessage()), t == null ? null : trace(t), seconds);
            if (id.isTest() || t != null) {
                System.out.printf("tier: %s %s (%.1f s)%n", status, name(id), seconds);
            }
        }

        private synchronized void write(TestIdentifier id, String status, String message, String trace, double seconds) {
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("name", name(id));
            if (id.getSource().orElse(null) instanceof MethodSource m) {
                line.put("method", methodKey(m));
            }
            line.put("test", id.isTest());
            line.put("status", status);
            if (retry) {
                line.put("retry", true);
            }
            line.put("seconds", Math.round(seconds * 10) / 10.0);
            line.put("message", message);
            line.put("trace", trace);
            try {
                out.write(JSON.writeValueAsString(line));
                out.write('\n');
                out.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static String name(TestIdentifier id) {
            if (id.getSource().orElse(null) instanceof MethodSource m) {
                return methodKey(m) + (id.getDisplayName().startsWith(m.getMethodName())
                        ? "" : " [" + id.getDisplayName() + "]");
            }
            return id.getDisplayName();
        }

        private static String trace(Throwable t) {
            StringWriter w = new StringWriter();
            t.printStackTrace(new PrintWriter(w));
            return w.toString();
        }
    }
}
