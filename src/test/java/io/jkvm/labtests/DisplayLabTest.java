package io.jkvm.labtests;

import io.jkvm.display.vnc.TypeOverVnc;
import io.jkvm.display.vnc.VncPasswordFile;
import io.jkvm.image.DefaultImage;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: Debian's stock kernel on jkvm's bochs-display with the default image (which loads the
 * bochs DRM driver): the framebuffer console comes up in the EDID's mode, the guest writes a line
 * and a green bar on it, and two screenshots show them: one through the VMM's API
 * ({@code GET /vm/screenshot}), one by a real VNC client (Debian's vncsnapshot) over TCP with VNC
 * Authentication. The guest also lists its input devices: the virtio-input keyboard and tablet a
 * display comes with, and a line typed in a VNC viewer (keys over RFB, the virtio keyboard, the
 * kernel's keyboard handler) is what the guest then reads from its console. Screenshots are kept
 * under {@code target/display-lab/}.
 */
@LabClass
class DisplayLabTest {
    private static final int WIDTH = 800;
    private static final int HEIGHT = 600;
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/vncsnapshot")),
                "vncsnapshot not installed (bin/setup-host installs it)");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "curl not installed");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    /** What the lab types at the guest over VNC; the guest reads it from its console. */
    private static final String TYPED = "jkvm42";

    /**
     * The guest: waits (bounded) for fb0, reports it and the input devices, draws on the console,
     * then reads a line from its foreground virtual console (tty1), which only the virtio keyboard
     * feeds (keys through the kernel's keyboard handler, as a person at the screen types), and
     * reports it.
     */
    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            mount -t proc proc /proc 2>/dev/null
            mount -t sysfs sys /sys 2>/dev/null
            mount -t devtmpfs devtmpfs /dev 2>/dev/null
            n=0; while [ ! -e /sys/class/graphics/fb0 ] && [ $n -lt 300 ]; do n=$((n+1)); sleep 0.1; done
            echo "display-test: fb=$(cat /sys/class/graphics/fb0/name 2>/dev/null) size=$(cat /sys/class/graphics/fb0/virtual_size 2>/dev/null)"
            echo "display-test: inputs=$(grep -h '^N:' /proc/bus/input/devices | tr '\\n' '|')"
            printf '\\n\\033[1;37mDISPLAY-TEST-MARKER jkvm bochs-display\\033[0m\\n\\033[42m%64s\\033[0m\\n' '' > /dev/tty0
            echo "display-test: drawn"
            read -r typed < /dev/tty1
            echo "display-test: typed=[$typed]"
            while :; do sleep 60; done
            """;

    private static String vmJson(Path root) {
        return """
                {"boot-source": {"kernel_image_path": "%s", "initrd_path": "%s",
                   "boot_args": "console=tty0 %s consoleblank=0 root=/dev/vda init=/sbin/init"},
                 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256},
                 "drives": [{"drive_id": "root", "path_on_host": "%s", "is_root_device": true, "is_read_only": false}]}
                """.formatted(kernel, initrd, LabGuests.BOOT_ARGS, root);
    }

    /** The lab side: the VMM with an API socket and VNC on loopback TCP; waits are on the guest's lines. */
    private static String labScript(Path dir, String jkvm, String typist) {
        return LabGuests.SHELL_LIB + String.join("\n",
                "set -u",
                "D=" + dir,
                "L=$(mktemp -d /dev/shm/jkvm-display.XXXXXX)",
                "printf 'lab-pass\\n' > $L/pw",
                jkvm + " run --api-sock $L/api.sock --config-file $D/vm.json --display=width=" + WIDTH + ",height=" + HEIGHT
                        + " --vnc tcp=127.0.0.1:5901,password-file=$L/pw </dev/null > $L/vm.log 2>&1 &",
                "vm=$!",
                "await \"grep -qa 'display-test: drawn' $L/vm.log\" $vm \"grown $L/vm.log\" && say guest drew || say guest did not draw",
                "code=$(curl -s -m 300 --unix-socket $L/api.sock -o $D/api.png -w '%{http_code}' http://localhost/vm/screenshot)",
                "echo \"lab: api-screenshot=$code\"",
                "timeout 300 vncsnapshot -passwd $D/vncpasswd -quality 95 127.0.0.1::5901 $D/vnc.jpg > $L/vnc.out 2>&1",
                "echo \"lab: vncsnapshot-exit=$?\"",
                typist + " 127.0.0.1 5901 lab-pass " + TYPED + " 2>&1",
                "echo \"lab: typist-exit=$?\"",
                "await \"grep -qa 'display-test: typed=' $L/vm.log\" $vm \"grown $L/vm.log\" && say guest read a line || say guest read nothing",
                "kill $vm; wait $vm",
                "grep -a 'display-test:' $L/vm.log",
                "{ echo '--- vncsnapshot:'; cat $L/vnc.out; echo '--- vm, last lines:'; tail -n 30 $L/vm.log; } >&2");
    }

    @Test
    void theBootConsoleIsOnTheDisplayForTheApiAndForAVncClient(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path root = LabGuests.ext4WithInit(dir, GUEST_INIT, "64M");
        Files.writeString(dir.resolve("vm.json"), vmJson(root));
        Files.write(dir.resolve("vncpasswd"), VncPasswordFile.of("lab-pass"));
        LabResult r = Lab.exec(List.of("bash", "-c", labScript(dir, JkvmCommand.shell(),
                JkvmCommand.quoted(JkvmCommand.java(TypeOverVnc.class.getName())))), LabGuests.options());
        String out = r.stdout();
        String context = out + "\n--- stderr ---\n" + r.stderr();
        System.out.println(context);
        Path keep = Files.createDirectories(Path.of("target", "display-lab"));
        for (String f : new String[] {"api.png", "vnc.jpg"}) {
            if (Files.exists(dir.resolve(f))) {
                Files.copy(dir.resolve(f), keep.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        assertThat(r.labFailed()).as(r.error() + "\n" + context + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(context).contains("display-test: fb=bochs").contains("size=" + WIDTH + "," + HEIGHT);
        assertThat(out).as("the display's input devices bound\n" + context)
                .contains("jkvm virtio keyboard").contains("jkvm virtio tablet");
        assertThat(out).as(context).contains("lab: api-screenshot=200").contains("lab: vncsnapshot-exit=0");
        // Keys typed in a VNC viewer reach the guest's console as a line, through the virtio keyboard.
        assertThat(out).as(context).contains("lab: typist-exit=0").contains("display-test: typed=[" + TYPED + "]");

        BufferedImage api = ImageIO.read(dir.resolve("api.png").toFile());
        BufferedImage vnc = ImageIO.read(dir.resolve("vnc.jpg").toFile());
        for (BufferedImage img : List.of(api, vnc)) {
            assertThat(img.getWidth()).isEqualTo(WIDTH);
            assertThat(img.getHeight()).isEqualTo(HEIGHT);
            // fbcon's VGA palette: the green bar (0x00aa00) and light text on black.
            assertThat(count(img, DisplayLabTest::green)).as("green bar pixels").isGreaterThan(64 * 8 * 10);
            assertThat(count(img, DisplayLabTest::light)).as("text pixels").isGreaterThan(500);
        }
        // Both clients see the same screen: where the API's picture is green, so is the VNC client's.
        int both = 0;
        int apiGreen = 0;
        for (int y = 0; y < HEIGHT; y++) {
            for (int x = 0; x < WIDTH; x++) {
                if (green(api.getRGB(x, y))) {
                    apiGreen++;
                    both += green(vnc.getRGB(x, y)) ? 1 : 0;
                }
            }
        }
        assertThat(both).as("green pixels of the API screenshot also green in the VNC one").isGreaterThan(apiGreen * 8 / 10);
    }

    private interface PixelTest {
        boolean test(int rgb);
    }

    private static int count(BufferedImage img, PixelTest t) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                n += t.test(img.getRGB(x, y)) ? 1 : 0;
            }
        }
        return n;
    }

    private static boolean green(int rgb) {
        int r = (rgb >> 16) & 0xff;
        int g = (rgb >> 8) & 0xff;
        int b = rgb & 0xff;
        return g > 0x80 && r < 0x50 && b < 0x50;
    }

    private static boolean light(int rgb) {
        int r = (rgb >> 16) & 0xff;
        int g = (rgb >> 8) & 0xff;
        int b = rgb & 0xff;
        return r > 0x90 && g > 0x90 && b > 0x90;
    }
}
