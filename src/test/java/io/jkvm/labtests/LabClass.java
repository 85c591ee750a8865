package io.jkvm.labtests;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A lab test class: tagged {@code lab}, its tests each in one 1-CPU lab machine
 * ({@link LabGuests#options()}), and free to run beside other such classes. The test pool has two
 * threads, one per host core (src/test/resources/junit-platform.properties), so two lab machines
 * run at once; the host's other test classes run one after another on the pool's first thread, as
 * before. Each such class shares {@link #CORES}; the direct-KVM tier in the lab, which keeps every
 * core busy with lab machines of its own, takes them alone ({@link KvmTierInLabTest}).
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Tag("lab")
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(value = LabClass.CORES, mode = ResourceAccessMode.READ)
public @interface LabClass {
    /** The host cores that lab machines run on: shared by lab classes, exclusive to the tier. */
    String CORES = "jkvm.lab.cores";
}
