package io.jkvm.daemon.web;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.StringLength;

import static org.assertj.core.api.Assertions.assertThat;

/** Whatever a client sends as a token or session cookie: no exception, and no access unless it is the real one. */
class WebTokensProperties {
    private static final WebTokens TOKENS = WebTokens.generate();
    private static final Sessions SESSIONS = new Sessions(java.time.Clock.systemUTC());

    @Property(tries = 2000)
    void anyStringIsRefusedQuietly(@ForAll @StringLength(max = 300) String guess) {
        assertThat(TOKENS.check(guess)).isEmpty();
        assertThat(SESSIONS.lookup(guess)).isEmpty();
    }

    @Property(tries = 500)
    void aVmTokenWithAnyCharacterChangedIsRefused(@ForAll @StringLength(min = 1, max = 20) String suffix, @ForAll int position) {
        String real = TOKENS.vmToken("alpha");
        int i = Math.floorMod(position, real.length());
        char c = real.charAt(i) == 'A' ? 'B' : 'A';
        String changed = real.substring(0, i) + c + real.substring(i + 1);
        assertThat(TOKENS.check(changed)).isEmpty();
        assertThat(TOKENS.check(real + suffix)).isEmpty();
        assertThat(TOKENS.check(real)).contains(Scope.of("alpha"));
    }
}
