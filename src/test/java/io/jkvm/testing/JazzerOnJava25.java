package io.jkvm.testing;

import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.security.ProtectionDomain;

/**
 * Lets Jazzer 0.24 instrument this project's classes. Its bundled ASM reads class files up to
 * Java 23 (major version 67); ours are Java 25 (69), which has no class-file feature 24 or 25
 * added, so a class file whose only difference is the version number is the same class. This
 * extension, on every fuzz test class, adds a transformer to the JVM's instrumentation (the same
 * one Jazzer's agent gets, through Jazzer's own ByteBuddy attach) before Jazzer's: it rewrites
 * the major version of newer class files to 67, and Jazzer's coverage and hook instrumentation
 * then works on them. Without it Jazzer logs "Unsupported class file major version 69" for every
 * class and fuzzes blind.
 */
public final class JazzerOnJava25 implements BeforeAllCallback {
    private static boolean installed;

    @Override
    public void beforeAll(ExtensionContext context) {
        install();
    }

    private static synchronized void install() {
        if (installed) {
            return;
        }
        Instrumentation inst = com.code_intelligence.jazzer.third_party.net.bytebuddy.agent.ByteBuddyAgent.install();
        inst.addTransformer(new ClassFileTransformer() {
            @Override
            public byte[] transform(Module module, ClassLoader loader, String name, Class<?> redefined, ProtectionDomain pd,
                    byte[] bytes) {
                return ClassVersionPatch.lowered(bytes);
            }
        }, true);
        installed = true;
    }
}
