package io.jkvm.memory;

/**
 * What backs guest RAM: Firecracker's machine-config {@code huge_pages} ("None", "2M") plus jkvm's
 * "Transparent".
 * <ul>
 *   <li>{@link #PAGES}: anonymous 4 KiB pages, MAP_NORESERVE (untouched RAM costs nothing);</li>
 *   <li>{@link #TRANSPARENT}: the same with MADV_HUGEPAGE, so the kernel backs it with 2 MiB pages
 *       where it can (transparent huge pages, mm/transhuge.rst; "madvise" mode is enough);</li>
 *   <li>{@link #HUGETLB_2M}: 2 MiB pages from the host's hugetlbfs pool (MAP_HUGETLB), reserved
 *       when mapped: a short pool fails the mapping (and is refused before boot), never a SIGBUS
 *       when the guest first touches a page (vm/hugetlbpage.rst).</li>
 * </ul>
 */
public enum RamBacking {
    PAGES("None"),
    TRANSPARENT("Transparent"),
    HUGETLB_2M("2M");

    /** The hugetlb page size this backing uses. */
    public static final long HUGE_PAGE = 2L << 20;

    private final String apiName;

    RamBacking(String apiName) {
        this.apiName = apiName;
    }

    /** The machine-config value ("None", "2M", "Transparent"). */
    public String apiName() {
        return apiName;
    }

    /** The backing named {@code value} (null: "None"); IllegalArgumentException for anything else. */
    public static RamBacking fromApi(String value) {
        if (value == null) {
            return PAGES;
        }
        for (RamBacking b : values()) {
            if (b.apiName.equals(value)) {
                return b;
            }
        }
        throw new IllegalArgumentException("huge_pages '" + value + "': not one of None, 2M, Transparent");
    }
}
