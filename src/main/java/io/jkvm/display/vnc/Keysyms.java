package io.jkvm.display.vnc;

import java.util.HashMap;
import java.util.Map;

/**
 * X11 keysyms (what an RFB KeyEvent carries, RFC 6143 section 7.5.4; values from X11's
 * keysymdef.h) to Linux input key codes ({@code KEY_*} of linux/input-event-codes.h), for a US
 * keyboard layout.
 *
 * <p>A keysym names a symbol, a key code names a physical key. Shifted symbols map to the key
 * that produces them ('!' to the '1' key, 'A' to the 'a' key): the client sends Shift as its own
 * event, so the guest sees Shift held and the right key, and its own layout turns that back into
 * the symbol. Keysyms with no key on a US keyboard map to 0 (ignored).
 */
public final class Keysyms {
    private static final Map<Integer, Integer> SPECIAL = new HashMap<>();
    /** Keysyms 0x20..0x7e (Latin-1 printable ASCII) by index {@code keysym - 0x20}. */
    private static final int[] ASCII = new int[0x5f];

    private Keysyms() {}

    /** The Linux key code for {@code keysym}, or 0 if none. */
    public static int toLinux(int keysym) {
        if (keysym >= 0x20 && keysym <= 0x7e) {
            return ASCII[keysym - 0x20];
        }
        return SPECIAL.getOrDefault(keysym, 0);
    }

    private static void ascii(String symbols, int code) {
        for (char c : symbols.toCharArray()) {
            ASCII[c - 0x20] = code;
        }
    }

    private static void special(int keysym, int code) {
        SPECIAL.put(keysym, code);
    }

    static {
        // Letter rows: KEY_Q=16..KEY_P=25, KEY_A=30..KEY_L=38, KEY_Z=44..KEY_M=50.
        String[] rows = {"qwertyuiop", "asdfghjkl", "zxcvbnm"};
        int[] firstCode = {16, 30, 44};
        for (int r = 0; r < rows.length; r++) {
            for (int i = 0; i < rows[r].length(); i++) {
                char c = rows[r].charAt(i);
                ascii(c + "" + Character.toUpperCase(c), firstCode[r] + i);
            }
        }
        // Digits: KEY_1=2..KEY_9=10, KEY_0=11, with their shifted symbols.
        String shiftedDigits = ")!@#$%^&*(";
        for (int d = 0; d <= 9; d++) {
            ascii((char) ('0' + d) + "" + shiftedDigits.charAt(d), d == 0 ? 11 : d + 1);
        }
        ascii("-_", 12);   // KEY_MINUS
        ascii("=+", 13);   // KEY_EQUAL
        ascii("[{", 26);   // KEY_LEFTBRACE
        ascii("]}", 27);   // KEY_RIGHTBRACE
        ascii(";:", 39);   // KEY_SEMICOLON
        ascii("'\"", 40);  // KEY_APOSTROPHE
        ascii("`~", 41);   // KEY_GRAVE
        ascii("\\|", 43);  // KEY_BACKSLASH
        ascii(",<", 51);   // KEY_COMMA
        ascii(".>", 52);   // KEY_DOT
        ascii("/?", 53);   // KEY_SLASH
        ascii(" ", 57);    // KEY_SPACE

        special(0xff08, 14);  // BackSpace -> KEY_BACKSPACE
        special(0xff09, 15);  // Tab -> KEY_TAB
        special(0xfe20, 15);  // ISO_Left_Tab (Shift+Tab) -> KEY_TAB
        special(0xff0d, 28);  // Return -> KEY_ENTER
        special(0xff1b, 1);   // Escape -> KEY_ESC
        special(0xffff, 111); // Delete -> KEY_DELETE
        special(0xff50, 102); // Home -> KEY_HOME
        special(0xff51, 105); // Left -> KEY_LEFT
        special(0xff52, 103); // Up -> KEY_UP
        special(0xff53, 106); // Right -> KEY_RIGHT
        special(0xff54, 108); // Down -> KEY_DOWN
        special(0xff55, 104); // Page_Up -> KEY_PAGEUP
        special(0xff56, 109); // Page_Down -> KEY_PAGEDOWN
        special(0xff57, 107); // End -> KEY_END
        special(0xff63, 110); // Insert -> KEY_INSERT
        special(0xff61, 99);  // Print -> KEY_SYSRQ
        special(0xff15, 99);  // Sys_Req -> KEY_SYSRQ
        special(0xff13, 119); // Pause -> KEY_PAUSE
        special(0xff14, 70);  // Scroll_Lock -> KEY_SCROLLLOCK
        special(0xff7f, 69);  // Num_Lock -> KEY_NUMLOCK
        special(0xffe5, 58);  // Caps_Lock -> KEY_CAPSLOCK
        special(0xff67, 127); // Menu -> KEY_COMPOSE

        special(0xffe1, 42);  // Shift_L -> KEY_LEFTSHIFT
        special(0xffe2, 54);  // Shift_R -> KEY_RIGHTSHIFT
        special(0xffe3, 29);  // Control_L -> KEY_LEFTCTRL
        special(0xffe4, 97);  // Control_R -> KEY_RIGHTCTRL
        special(0xffe9, 56);  // Alt_L -> KEY_LEFTALT
        special(0xffea, 100); // Alt_R -> KEY_RIGHTALT
        special(0xfe03, 100); // ISO_Level3_Shift (AltGr) -> KEY_RIGHTALT
        special(0xffe7, 125); // Meta_L -> KEY_LEFTMETA
        special(0xffe8, 126); // Meta_R -> KEY_RIGHTMETA
        special(0xffeb, 125); // Super_L -> KEY_LEFTMETA
        special(0xffec, 126); // Super_R -> KEY_RIGHTMETA

        // F1..F10 are KEY_F1=59..KEY_F10=68; F11, F12 are 87, 88.
        for (int i = 0; i < 10; i++) {
            special(0xffbe + i, 59 + i);
        }
        special(0xffc8, 87);
        special(0xffc9, 88);

        // Keypad digits, with Num Lock on (KP_0..KP_9) and off (KP_Insert, KP_End, ...).
        int[] kpDigit = {82, 79, 80, 81, 75, 76, 77, 71, 72, 73}; // KEY_KP0..KEY_KP9
        for (int d = 0; d <= 9; d++) {
            special(0xffb0 + d, kpDigit[d]);
        }
        special(0xff9e, 82);  // KP_Insert -> KEY_KP0
        special(0xff9c, 79);  // KP_End -> KEY_KP1
        special(0xff99, 80);  // KP_Down -> KEY_KP2
        special(0xff9b, 81);  // KP_Next -> KEY_KP3
        special(0xff96, 75);  // KP_Left -> KEY_KP4
        special(0xff9d, 76);  // KP_Begin -> KEY_KP5
        special(0xff98, 77);  // KP_Right -> KEY_KP6
        special(0xff95, 71);  // KP_Home -> KEY_KP7
        special(0xff97, 72);  // KP_Up -> KEY_KP8
        special(0xff9a, 73);  // KP_Prior -> KEY_KP9
        special(0xff9f, 83);  // KP_Delete -> KEY_KPDOT
        special(0xffae, 83);  // KP_Decimal -> KEY_KPDOT
        special(0xffab, 78);  // KP_Add -> KEY_KPPLUS
        special(0xffad, 74);  // KP_Subtract -> KEY_KPMINUS
        special(0xffaa, 55);  // KP_Multiply -> KEY_KPASTERISK
        special(0xffaf, 98);  // KP_Divide -> KEY_KPSLASH
        special(0xff8d, 96);  // KP_Enter -> KEY_KPENTER
        special(0xffbd, 117); // KP_Equal -> KEY_KPEQUAL
        special(0xffac, 121); // KP_Separator -> KEY_KPCOMMA
    }
}
