package io.jkvm.isolation;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import io.jkvm.isolation.LandlockPolicy.Access;
import io.jkvm.isolation.LandlockPolicy.Rule;

/**
 * What the JVM under the VMM opens after start, so Landlock leaves the JVM working.
 *
 * <p>Measured, not guessed: {@code strace -f -e trace=%file,landlock_restrict_self,seccomp} on
 * (1) {@code jkvm run --on-reboot restart} with a guest that reboots at once (91 boots in 10 s:
 * the kernel and disk are opened again at each), (2) an API VMM taken through logger, metrics,
 * drive, InstanceStart, GET /jkvm/vcpus, FlushMetrics, PATCH /drives, pause, snapshot/create,
 * resume and SIGUSR1, and (3) the confinement probe under load (allocation, System.gc, new
 * platform and virtual threads, JIT warm-up, a parallel stream), keeping the opens made after
 * seccomp(SET_MODE_FILTER). None failed with these rules. What was opened:
 * <ul>
 * <li>the JDK's home (classes and native libraries load lazily: libnet, libnio, libmanagement,
 *     security and time-zone data) and every class-path entry (a directory entry is read one
 *     .class file at a time, on first use);
 * <li>/proc (the JVM's /proc/self/{stat,status,maps,mountinfo,cgroup}; the VMM's vCPU report
 *     reads /proc/self/task/&lt;tid&gt;/stat), /sys/devices/system/cpu and /sys/fs/cgroup
 *     (Runtime.availableProcessors re-reads the CPU limits);
 * <li>/dev/null, /dev/urandom and /dev/random (SecureRandom: migration TLS, snapshot keys);
 * <li>the name service's /etc files: the resolver's (a migration peer named by host name),
 *     passwd and group (the API's file-owner lookups); /etc/localtime and /usr/share/zoneinfo
 *     (log time stamps);
 * <li>the JVM's perf-data directory, /tmp/hsperfdata_USER, whose file it unlinks at exit, and
 *     the directory of a class-data archive it writes at exit (-XX:+AutoCreateSharedArchive,
 *     as the lab's child JVMs run; -XX:ArchiveClassesAtExit; -XX:AOTConfiguration when recording);
 * <li>the system's libcrypto, loaded on the first snapshot: /etc/ld.so.cache, the system library
 *     directories, /usr/lib/ssl/openssl.cnf (loading it before the restriction instead would
 *     add about 100 ms to every boot);
 * </ul>
 * The VM's own files (kernel, disks, TAP, sockets, snapshot files) come from its configuration
 * ({@link LandlockPolicy#forVm}).
 */
public final class JvmPaths {
    private JvmPaths() {}

    public static List<Rule> rules() {
        List<Rule> rules = new ArrayList<>();
        rules.add(new Rule(Path.of(System.getProperty("java.home")), Access.READ, "JDK"));
        for (String prop : new String[] {"java.class.path", "jdk.module.path"}) {
            String cp = System.getProperty(prop);
            if (cp != null && !cp.isBlank()) {
                for (String e : cp.split(File.pathSeparator)) {
                    if (!e.isBlank()) {
                        rules.add(new Rule(Path.of(e), Access.READ, "JVM " + prop));
                    }
                }
            }
        }
        // libcrypto (snapshot HMACs) is loaded on the first snapshot: the dynamic linker's cache,
        // the system library directories it points into, and OpenSSL's configuration.
        for (String lib : new String[] {"/etc/ld.so.cache", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                "/usr/lib64", "/usr/lib/ssl", "/etc/ssl"}) {
            rules.add(new Rule(Path.of(lib), Access.READ, "native libraries loaded lazily"));
        }
        rules.add(new Rule(Path.of("/proc"), Access.READ, "JVM /proc"));
        rules.add(new Rule(Path.of("/sys/devices/system/cpu"), Access.READ, "JVM CPUs"));
        rules.add(new Rule(Path.of("/sys/fs/cgroup"), Access.READ, "JVM container limits"));
        rules.add(new Rule(Path.of("/dev/null"), Access.READ_WRITE, "JVM"));
        rules.add(new Rule(Path.of("/dev/urandom"), Access.READ, "JVM SecureRandom"));
        rules.add(new Rule(Path.of("/dev/random"), Access.READ, "JVM SecureRandom"));
        for (String f : new String[] {"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf",
                "/etc/gai.conf", "/etc/passwd", "/etc/group", "/etc/localtime", "/usr/share/zoneinfo"}) {
            rules.add(new Rule(Path.of(f), Access.READ, "name service and time zone"));
        }
        for (Path f : JvmArgs.writtenAtExit(JvmArgs.all())) {
            Path dir = f.toAbsolutePath().getParent();
            if (dir != null) {
                rules.add(new Rule(dir, Access.CREATE, "JVM class-data archive written at exit"));
            }
        }
        // HotSpot keeps it in /tmp whatever java.io.tmpdir says (os::get_temp_directory on Linux).
        rules.add(new Rule(Path.of("/tmp", "hsperfdata_" + System.getProperty("user.name")), Access.CREATE,
                "JVM perf data (removed at exit)"));
        return rules;
    }
}
