package io.jkvm.bench;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A PNG of the ratios: one horizontal bar per figure (jkvm / peer, 1.0 marked), with the range of
 * jkvm's samples over the peer's median as a whisker. Plain AWT, headless.
 */
public final class Chart {
    private static final int WIDTH = 1000;
    private static final int ROW = 34;
    private static final int LEFT = 400;
    private static final int RIGHT = 70;
    private static final int TOP = 50;

    private Chart() {}

    public static BufferedImage render(List<MetricResult> results) {
        System.setProperty("java.awt.headless", "true");
        int height = TOP + ROW * Math.max(1, results.size()) + 40;
        BufferedImage img = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, height);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
            g.drawString("jkvm / peer (median; < 1 is better for jkvm)", 12, 24);
            double max = 2.0;
            for (MetricResult r : results) {
                if (!Double.isNaN(r.ratio())) {
                    max = Math.max(max, r.jkvm().max() / r.peer().median());
                }
            }
            max = Math.ceil(max * 2) / 2;
            int plot = WIDTH - LEFT - RIGHT;
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            for (int i = 0; i < results.size(); i++) {
                MetricResult r = results.get(i);
                int y = TOP + i * ROW;
                g.setColor(Color.BLACK);
                g.drawString(r.title() + " vs " + r.peerName(), 12, y + 19);
                if (Double.isNaN(r.ratio())) {
                    continue;
                }
                int w = (int) Math.round(plot * Math.min(r.ratio(), max) / max);
                g.setColor(r.ratio() <= 1 ? new Color(0x3a7d44) : new Color(0xc0504d));
                g.fillRect(LEFT, y + 6, w, ROW - 14);
                g.setColor(Color.DARK_GRAY);
                int lo = LEFT + (int) Math.round(plot * Math.min(r.jkvm().min() / r.peer().median(), max) / max);
                int hi = LEFT + (int) Math.round(plot * Math.min(r.jkvm().max() / r.peer().median(), max) / max);
                int mid = y + ROW / 2 - 1;
                g.drawLine(lo, mid, hi, mid);
                g.drawLine(lo, mid - 4, lo, mid + 4);
                g.drawLine(hi, mid - 4, hi, mid + 4);
                g.setColor(Color.BLACK);
                // Right of both the bar and the whisker, so the two never cover the number.
                g.drawString(String.format(Locale.ROOT, "%.2fx", r.ratio()), Math.max(LEFT + w, hi) + 6, y + 19);
            }
            int one = LEFT + (int) Math.round(plot / max);
            g.setColor(Color.BLUE);
            g.setStroke(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {5f, 4f}, 0f));
            g.drawLine(one, TOP - 6, one, TOP + ROW * results.size());
            g.setStroke(new BasicStroke(1f));
            g.setColor(Color.BLACK);
            int axis = TOP + ROW * results.size() + 16;
            for (double t = 0; t <= max + 1e-9; t += 0.5) {
                int x = LEFT + (int) Math.round(plot * t / max);
                g.drawString(String.format(Locale.ROOT, "%.1f", t), x - 8, axis);
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    public static void write(Path file, List<MetricResult> results) throws IOException {
        if (!ImageIO.write(render(results), "png", file.toFile())) {
            throw new IOException("no PNG writer in this JDK");
        }
    }
}
