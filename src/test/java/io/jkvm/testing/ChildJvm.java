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
 * The class path and class-data sharing of the JVMs tests start (VMMs, the daemon, CLI calls).
 * Normally the test JVM's own class path, as is. Inside the lab, where each of those JVMs loads
 * a few thousand classes through the emulated CPU and the 9p share, {@link TierLauncher} packs the
 * class directories into jars in the lab machine's RAM once ({@link #prepare}), and the children
 * then share one dynamic CDS archive (JEP 350, -XX:+AutoCreateSharedArchive): the first child to
 * exit writes it, later ones map the classes instead of loading them. CDS takes classes from jars
 * only, hence the packing.
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

    /** JVM options for a child JVM: the shared archive when {@link #prepare} made one. */
    public static List<String> options() {
        String archive = System.getProperty(ARCHIVE);
        return archive == null ? List.of() : List.of("-XX:SharedArchiveFile=" + archive, "-XX:+AutoCreateSharedArchive",
                "-Xlog:cds=off", "-Xlog:cds+dynamic=off");
    }

    /**
     * Packs each class directory of this JVM's class path into a jar under {@code dir} and sets
     * {@link #CLASS_PATH} and {@link #ARCHIVE} for the children. Returns how many entries were packed.
     */
    public static int prepare(Path dir) {
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
        System.setProperty(CLASS_PATH, String.join(java.io.File.pathSeparator, out));
        System.setProperty(ARCHIVE, dir.resolve("children.jsa").toString());
        return packed;
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
