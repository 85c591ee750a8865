package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.display.InputSink;
import java.awt.image.BufferedImage;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real client: Debian's vncsnapshot (TightVNC-based, speaks RFB 3.3 with VNC Authentication)
 * connects over TCP loopback, takes one frame of a known four-colour pattern and saves it as a
 * JPEG, which this test decodes and checks. vncsnapshot asks for its own pixel format (red and blue
 * shifts swapped from the server's), so the colours also prove the conversion. The quadrants'
 * horizontal edge (y = 120) cuts through 16-pixel Hextile tiles, so solid and two-colour tiles go
 * out, and a gradient patch makes raw tiles. Skipped when vncsnapshot is not installed (bin/setup-host installs it).
 */
@Timeout(120)
class VncSnapshotTest {
    private static final int W = 320;
    private static final int H = 240;
    private static final int[] QUADRANTS = {0xff0000, 0x00ff00, 0x0000ff, 0xffffff};

    @TempDir
    Path dir;

    private static boolean haveVncsnapshot() throws Exception {
        Process p = new ProcessBuilder("sh", "-c", "command -v vncsnapshot").redirectErrorStream(true).start();
        return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
    }

    /**
     * The password file vncsnapshot's -passwd reads (vncpasswd's format): the password, cut or
     * zero-padded to 8 bytes, DES-encrypted under the fixed key every VNC implementation uses for
     * it, through the same bit-reversed key as the authentication itself.
     */
    private static byte[] passwordFile(String password) {
        byte[] fixed = {23, 82, 107, 6, 35, 78, 88, 7};
        return VncAuth.response(VncAuth.key(fixed), Arrays.copyOf(password.getBytes(), 8));
    }

    private static int gradient(int x, int y) {
        return (x * 8) << 16 | (y * 8) << 8 | 0x80;
    }

    private static void assertNear(int got, int want, String what) {
        for (int shift = 0; shift <= 16; shift += 8) {
            assertThat(Math.abs(((got >> shift) & 0xff) - ((want >> shift) & 0xff)))
                    .as("%s: %06x, want about %06x", what, got, want).isLessThan(24);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"raw", "hextile"})
    void vncsnapshotSavesTheTestPattern(String encoding) throws Exception {
        Assumptions.assumeTrue(haveVncsnapshot(), "vncsnapshot not installed (Debian package vncsnapshot): real-client check skipped");
        MemoryFramebuffer fb = new MemoryFramebuffer(W, H);
        fb.fill(0, 0, W / 2, H / 2, QUADRANTS[0]);
        fb.fill(W / 2, 0, W / 2, H / 2, QUADRANTS[1]);
        fb.fill(0, H / 2, W / 2, H / 2, QUADRANTS[2]);
        fb.fill(W / 2, H / 2, W / 2, H / 2, QUADRANTS[3]);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                fb.set(8 + x, 8 + y, gradient(x, y));
            }
        }
        Path pw = Files.write(dir.resolve("passwd"), passwordFile("t0psecr3t"));
        Path jpeg = dir.resolve("shot.jpg");
        try (VncServer server = VncServer.tcp("127.0.0.1", 0, "t0psecr3t", fb, InputSink.NONE)) {
            int port = ((InetSocketAddress) server.address()).getPort();
            List<String> cmd = new ArrayList<>(List.of("vncsnapshot", "-passwd", pw.toString(), "-encodings", encoding,
                    "-quality", "95", "127.0.0.1::" + port, jpeg.toString()));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("vncsnapshot said: %s", output).isZero();
        }
        BufferedImage img = ImageIO.read(jpeg.toFile());
        assertThat(img.getWidth()).isEqualTo(W);
        assertThat(img.getHeight()).isEqualTo(H);
        int[][] centres = {{W / 4, H / 4}, {3 * W / 4, H / 4}, {W / 4, 3 * H / 4}, {3 * W / 4, 3 * H / 4}};
        for (int q = 0; q < 4; q++) {
            assertNear(img.getRGB(centres[q][0], centres[q][1]) & 0xffffff, QUADRANTS[q], "quadrant " + q);
        }
        assertNear(img.getRGB(8 + 20, 8 + 12) & 0xffffff, gradient(20, 12), "gradient");
        assertNear(img.getRGB(8 + 4, 8 + 28) & 0xffffff, gradient(4, 28), "gradient");
    }
}
