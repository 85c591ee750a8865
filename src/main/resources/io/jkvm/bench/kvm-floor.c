/*
 * The floor for a userspace exit round trip on this host: the smallest KVM_RUN loop there is.
 * Benchmark tooling, not product: `jkvm bench` compiles it with gcc at run time.
 *
 * usage: kvm-floor IMAGE   (a 64 KiB image loaded at 0xf0000, entered at f000:fff0 in real mode)
 * Every port or MMIO exit is counted and resumed at once; a write to port 0xf4 or HLT ends the
 * run. Prints "exits=N ns=T" (T from the first KVM_RUN to the end) on stdout.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (2u << 20)
#define IMAGE_BASE 0xf0000u
#define IMAGE_SIZE 0x10000u

static void die(const char *what) { perror(what); exit(1); }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: kvm-floor IMAGE\n"); return 2; }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) die("KVM_SET_TSS_ADDR");
    uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED) die("mmap");
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(ram + IMAGE_BASE, 1, IMAGE_SIZE, f) != IMAGE_SIZE) die(argv[1]);
    fclose(f);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)ram,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    sregs.cs.selector = 0xf000;
    sregs.cs.base = IMAGE_BASE;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = { .rip = 0xfff0, .rflags = 2 };
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

    uint64_t exits = 0, t0 = now_ns();
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            if (run->io.port == 0xf4) goto done;
            exits++;
            break;
        case KVM_EXIT_MMIO:
            exits++;
            break;
        case KVM_EXIT_HLT:
            goto done;
        default:
            fprintf(stderr, "unexpected exit reason %u\n", run->exit_reason);
            return 1;
        }
    }
done:
    printf("exits=%llu ns=%llu\n", (unsigned long long)exits, (unsigned long long)(now_ns() - t0));
    return 0;
}
