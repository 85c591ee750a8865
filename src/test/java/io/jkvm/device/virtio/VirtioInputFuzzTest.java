package io.jkvm.device.virtio;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jkvm.device.virtio.input.VirtioInput;
import io.jkvm.display.InputSink;
import io.jkvm.testing.JazzerOnJava25;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Coverage-guided fuzz target (Jazzer) for virtio-input over the virtio-pci transport, with the
 * oracles of {@link VirtioFuzzRig}: hostile eventq/statusq chains, config selector writes, resets,
 * and host input (keys, pointer, wheel) arriving as backend events. In {@code mvn test} it replays
 * its corpus; with JAZZER_FUZZ=1 and {@code -Dtest=VirtioInputFuzzTest} it fuzzes for 10 minutes.
 * (It lives here, not in the device's package, because the rig is package-private.)
 */
@ExtendWith(JazzerOnJava25.class)
class VirtioInputFuzzTest {
    private static VirtioFuzzRig tablet;

    @FuzzTest(maxDuration = "10m")
    void input(FuzzedDataProvider data) {
        if (tablet == null) {
            VirtioInput dev = VirtioInput.tablet();
            InputSink sink = VirtioInput.inputSink(null, dev);
            tablet = new VirtioFuzzRig(dev, new VirtioFuzzRig.Backend() {
                @Override
                public void event(FuzzedDataProvider d) {
                    switch (d.consumeInt(0, 3)) {
                        case 0 -> sink.key(d.consumeInt(), d.consumeBoolean());
                        case 1 -> sink.pointer(d.consumeInt(), d.consumeInt(), d.consumeInt(), d.consumeInt(), d.consumeInt());
                        case 2 -> sink.wheel(d.consumeInt());
                        default -> {
                            for (int i = d.consumeInt(0, 2000); i > 0; i--) { // a flood
                                sink.pointer(i, i, 2000, 2000, i);
                            }
                        }
                    }
                }
            });
        }
        tablet.run(data);
    }
}
