package io.jkvm.api;

import io.jkvm.display.DamageListener;
import io.jkvm.display.DisplayMode;
import io.jkvm.display.Framebuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** GET /vm/screenshot: a PNG of the guest's display, or a 400 naming the display when there is none. */
class ScreenshotApiTest {
    @TempDir Path dir;

    /** A 2x1 screen: red, blue. */
    static final Framebuffer SCREEN = new Framebuffer() {
        @Override
        public DisplayMode mode() {
            return new DisplayMode(2, 1);
        }

        @Override
        public void readPixels(int x, int y, int width, int height, int[] dst) {
            int[] row = {0xff0000, 0x0000ff};
            System.arraycopy(row, x, dst, 0, width);
        }

        @Override
        public Subscription subscribe(DamageListener listener) {
            return () -> {};
        }
    };

    private ApiRouter boot(ApiRouter api) throws Exception {
        Path kernel = StandInGuest.kernelFile(dir);
        assertThat(api.handle("PUT", "/boot-source", ("{\"kernel_image_path\": \"" + kernel + "\"}").getBytes(StandardCharsets.UTF_8))
                .status()).isEqualTo(204);
        assertThat(api.handle("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}".getBytes(StandardCharsets.UTF_8))
                .status()).isEqualTo(204);
        return api;
    }

    @Test
    void withoutADisplayIsA400NamingIt() throws Exception {
        ApiRouter api = StandInGuest.router("s", () -> { });
        ApiResponse before = api.handle("GET", "/vm/screenshot", new byte[0]);
        assertThat(before.status()).isEqualTo(400);
        assertThat(Json.MAPPER.readTree(before.json()).path("fault_message").asText()).contains("display");
        boot(api);
        ApiResponse after = api.handle("GET", "/vm/screenshot", new byte[0]);
        assertThat(after.status()).isEqualTo(400);
        assertThat(after.json()).contains("display");
        assertThat(HttpReply.of(after).contentType()).isEqualTo("application/json");
        assertThat(api.handle("PUT", "/vm/screenshot", new byte[0]).status()).isEqualTo(400);
    }

    @Test
    void withADisplayIsAPng() throws Exception {
        ApiRouter api = boot(StandInGuest.router("s", StandInGuest.withScreen(SCREEN)));
        ApiResponse r = api.handle("GET", "/vm/screenshot", new byte[0]);
        assertThat(r.status()).isEqualTo(200);
        HttpReply reply = HttpReply.of(r);
        assertThat(reply.contentType()).isEqualTo("image/png");
        var img = ImageIO.read(new ByteArrayInputStream(reply.body()));
        assertThat(img.getWidth()).isEqualTo(2);
        assertThat(img.getRGB(0, 0) & 0xffffff).isEqualTo(0xff0000);
        assertThat(img.getRGB(1, 0) & 0xffffff).isEqualTo(0x0000ff);
    }
}
