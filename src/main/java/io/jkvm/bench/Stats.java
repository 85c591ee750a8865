package io.jkvm.bench;

import java.util.Arrays;
import java.util.List;

/**
 * Median and spread of a handful of samples. With 3-5 samples on a shared machine the honest
 * spread is the whole range, so that is what is kept (min and max), plus the relative half-range.
 */
public record Stats(List<Double> samples, double median, double min, double max) {

    public Stats {
        samples = List.copyOf(samples);
    }

    public static Stats of(List<Double> samples) {
        if (samples.isEmpty()) {
            throw new IllegalArgumentException("no samples");
        }
        double[] s = samples.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int n = s.length;
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        return new Stats(samples, median, s[0], s[n - 1]);
    }

    public static Stats of(double... samples) {
        return of(Arrays.stream(samples).boxed().toList());
    }

    /** Half the range relative to the median, e.g. 0.05 for "± 5 %"; 0 when the median is 0. */
    public double relativeSpread() {
        return median == 0 ? 0 : (max - min) / 2 / Math.abs(median);
    }

    public int count() {
        return samples.size();
    }
}
