package io.jkvm.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

/**
 * The class path and class data of the JVMs tests start (VMMs, the daemon, CLI calls). Normally
 * the test JVM's own class path, as is, and nothing more. Inside the lab, where each of those JVMs
 * loads a few thousand classes through the emulated CPU and the 9p share, {@link TierLauncher}
 * packs the class directories into jars in the lab machine's RAM once ({@link #pack}), and the
 * children share one dynamic CDS archive (JEP 350, -XX:+AutoCreateSharedArchive), written before
 * the first test by a VMM booted for the purpose ({@link ChildArchiveWarmUp}); the children map
 * the classes instead of loading them. Class data comes from
 * jars only, hence the packing. An AOT cache (JEP 483/514) trained in each lane's machine by
 * {@code jkvm bench train} was tried instead: training took ~110 s a lane and four daemon and API
 * test classes ran 8-30% slower with it than with the archive (448 s against 401), so not.
 */
public final class ChildJvm {
    /** System property: the children's class path (jars only). */
    public static final String CLASS_PATH = "jkvm.test.child.classpath";
    /** System property: the children's dynamic CDS archive. */
    public static final String ARCHIVE = "jkvm.test.child.cds";

    private ChildJvm() {}

    /** The class path for a child JVM. */
    public static String classPath() {
        return System.getProperty(CLASS_PATH, System.getProperty("java.class.path"));
    }

    /** JVM options for a child JVM: the shared archive {@link Setup#install} set, if any. */
    public static List<String> options() {
        String archive = System.getProperty(ARCHIVE);
        return archive == null ? List.of() : archiveOptions(archive);
    }

    private static List<String> archiveOptions(String archive) {
        return List.of("-XX:SharedArchiveFile=" + archive, "-XX:+AutoCreateSharedArchive",
                "-Xlog:cds=off", "-Xlog:cds+dynamic=off");
    }

    /** What children get: a class path of jars and the dynamic CDS archive they share. */
    public record Setup(String classPath, Path archive) {
        /** The JVM options that share {@link #archive}. */
        public List<String> options() {
            return archiveOptions(archive.toString());
        }

        /** Makes this the setup of every child this JVM starts ({@link JkvmCommand}). */
        public void install() {
            System.setProperty(CLASS_PATH, classPath);
            System.setProperty(ARCHIVE, archive.toString());
        }
    }

    /**
     * Packs each class directory of this JVM's class path into a jar under {@code dir}: the
     * children's class path, sharing a dynamic CDS archive ({@link ChildArchiveWarmUp} writes it).
     */
    public static Setup pack(Path dir) {
        List<String> out = new ArrayList<>();
        int packed = 0;
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (entry.isEmpty()) {
                continue;
            }
            Path p = Path.of(entry);
            if (Files.isDirectory(p)) {
                Path jar = dir.resolve("cp" + packed++ + ".jar");
                pack(p, jar);
                out.add(jar.toString());
            } else {
                out.add(p.toAbsolutePath().toString());
            }
        }
        return new Setup(String.join(java.io.File.pathSeparator, out), dir.resolve("children.jsa"));
    }

    /** A stored (uncompressed) jar of every file under {@code root}, in a stable order. */
    private static void pack(Path root, Path jar) {
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(os);
             Stream<Path> files = Files.walk(root)) {
            j.setLevel(0);
            for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile).sorted()::iterator) {
                j.putNextEntry(new JarEntry(root.relativize(f).toString().replace(java.io.File.separatorChar, '/')));
                Files.copy(f, j);
                j.closeEntry();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("packing " + root + " into " + jar, e);
        }
    }
}
