package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class KeysymsTest {
    // Codes from linux/input-event-codes.h.
    private static final int KEY_ESC = 1, KEY_1 = 2, KEY_0 = 11, KEY_MINUS = 12, KEY_EQUAL = 13;
    private static final int KEY_BACKSPACE = 14, KEY_TAB = 15, KEY_Q = 16, KEY_P = 25, KEY_ENTER = 28;
    private static final int KEY_LEFTCTRL = 29, KEY_A = 30, KEY_L = 38, KEY_SEMICOLON = 39;
    private static final int KEY_APOSTROPHE = 40, KEY_GRAVE = 41, KEY_LEFTSHIFT = 42, KEY_BACKSLASH = 43;
    private static final int KEY_Z = 44, KEY_M = 50, KEY_SLASH = 53, KEY_LEFTALT = 56, KEY_SPACE = 57;
    private static final int KEY_F1 = 59, KEY_F10 = 68, KEY_F11 = 87, KEY_F12 = 88;
    private static final int KEY_KP7 = 71, KEY_KP0 = 82, KEY_KPENTER = 96, KEY_HOME = 102, KEY_UP = 103;
    private static final int KEY_PAGEUP = 104, KEY_LEFT = 105, KEY_RIGHT = 106, KEY_END = 107, KEY_DOWN = 108;
    private static final int KEY_PAGEDOWN = 109, KEY_INSERT = 110, KEY_DELETE = 111, KEY_LEFTMETA = 125;

    @Test
    void lettersInBothCasesAreTheSameKey() {
        assertThat(Keysyms.toLinux('q')).isEqualTo(KEY_Q);
        assertThat(Keysyms.toLinux('P')).isEqualTo(KEY_P);
        assertThat(Keysyms.toLinux('a')).isEqualTo(KEY_A);
        assertThat(Keysyms.toLinux('L')).isEqualTo(KEY_L);
        assertThat(Keysyms.toLinux('z')).isEqualTo(KEY_Z);
        assertThat(Keysyms.toLinux('m')).isEqualTo(KEY_M);
        for (char c = 'a'; c <= 'z'; c++) {
            assertThat(Keysyms.toLinux(c)).isNotZero().isEqualTo(Keysyms.toLinux(Character.toUpperCase(c)));
        }
    }

    @Test
    void shiftedSymbolsAreTheirUnshiftedKey() {
        assertThat(Keysyms.toLinux('1')).isEqualTo(KEY_1);
        assertThat(Keysyms.toLinux('!')).isEqualTo(KEY_1);
        assertThat(Keysyms.toLinux(')')).isEqualTo(KEY_0);
        assertThat(Keysyms.toLinux('@')).isEqualTo(Keysyms.toLinux('2'));
        assertThat(Keysyms.toLinux('_')).isEqualTo(KEY_MINUS);
        assertThat(Keysyms.toLinux('+')).isEqualTo(KEY_EQUAL);
        assertThat(Keysyms.toLinux(':')).isEqualTo(KEY_SEMICOLON);
        assertThat(Keysyms.toLinux('"')).isEqualTo(KEY_APOSTROPHE);
        assertThat(Keysyms.toLinux('~')).isEqualTo(KEY_GRAVE);
        assertThat(Keysyms.toLinux('|')).isEqualTo(KEY_BACKSLASH);
        assertThat(Keysyms.toLinux('?')).isEqualTo(KEY_SLASH);
        assertThat(Keysyms.toLinux(' ')).isEqualTo(KEY_SPACE);
        for (char c = 0x21; c <= 0x7e; c++) {
            assertThat(Keysyms.toLinux(c)).as("keysym %c", c).isNotZero();
        }
    }

    @Test
    void editingAndNavigationKeys() {
        assertThat(Keysyms.toLinux(0xff0d)).isEqualTo(KEY_ENTER);
        assertThat(Keysyms.toLinux(0xff1b)).isEqualTo(KEY_ESC);
        assertThat(Keysyms.toLinux(0xff08)).isEqualTo(KEY_BACKSPACE);
        assertThat(Keysyms.toLinux(0xff09)).isEqualTo(KEY_TAB);
        assertThat(Keysyms.toLinux(0xffff)).isEqualTo(KEY_DELETE);
        assertThat(Keysyms.toLinux(0xff50)).isEqualTo(KEY_HOME);
        assertThat(Keysyms.toLinux(0xff57)).isEqualTo(KEY_END);
        assertThat(Keysyms.toLinux(0xff55)).isEqualTo(KEY_PAGEUP);
        assertThat(Keysyms.toLinux(0xff56)).isEqualTo(KEY_PAGEDOWN);
        assertThat(Keysyms.toLinux(0xff63)).isEqualTo(KEY_INSERT);
        assertThat(Keysyms.toLinux(0xff51)).isEqualTo(KEY_LEFT);
        assertThat(Keysyms.toLinux(0xff52)).isEqualTo(KEY_UP);
        assertThat(Keysyms.toLinux(0xff53)).isEqualTo(KEY_RIGHT);
        assertThat(Keysyms.toLinux(0xff54)).isEqualTo(KEY_DOWN);
    }

    @Test
    void modifiersFunctionKeysAndKeypad() {
        assertThat(Keysyms.toLinux(0xffe1)).isEqualTo(KEY_LEFTSHIFT);
        assertThat(Keysyms.toLinux(0xffe3)).isEqualTo(KEY_LEFTCTRL);
        assertThat(Keysyms.toLinux(0xffe9)).isEqualTo(KEY_LEFTALT);
        assertThat(Keysyms.toLinux(0xffeb)).isEqualTo(KEY_LEFTMETA);
        assertThat(Keysyms.toLinux(0xffbe)).isEqualTo(KEY_F1);
        assertThat(Keysyms.toLinux(0xffc7)).isEqualTo(KEY_F10);
        assertThat(Keysyms.toLinux(0xffc8)).isEqualTo(KEY_F11);
        assertThat(Keysyms.toLinux(0xffc9)).isEqualTo(KEY_F12);
        assertThat(Keysyms.toLinux(0xffb7)).isEqualTo(KEY_KP7);
        assertThat(Keysyms.toLinux(0xff95)).as("KP_Home is the 7 key with Num Lock off").isEqualTo(KEY_KP7);
        assertThat(Keysyms.toLinux(0xffb0)).isEqualTo(KEY_KP0);
        assertThat(Keysyms.toLinux(0xff8d)).isEqualTo(KEY_KPENTER);
    }

    @Test
    void unknownKeysymsAreZero() {
        assertThat(Keysyms.toLinux(0)).isZero();
        assertThat(Keysyms.toLinux(0x20ac)).isZero(); // EuroSign
        assertThat(Keysyms.toLinux(0x7f)).isZero();
        assertThat(Keysyms.toLinux(-1)).isZero();
        assertThat(Keysyms.toLinux(Integer.MIN_VALUE)).isZero();
    }
}
