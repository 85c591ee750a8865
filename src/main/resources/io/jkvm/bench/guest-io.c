/*
 * Guest side of jkvm bench's virtio I/O figures (test tooling, never part of the product):
 * compiled statically with gcc at bench time and added to the bench guest's initramfs.
 *
 *   guest-io seqread  DEV SECONDS     1 MiB O_DIRECT reads, wrapping over the device
 *   guest-io seqwrite DEV SECONDS     1 MiB O_DIRECT writes, then fdatasync (counted)
 *   guest-io randread DEV SECONDS     4 KiB O_DIRECT reads at random aligned offsets, queue depth 1
 *   guest-io netrx    IP PORT         connect, read to end of stream, report the rate
 *   guest-io nettx    IP PORT SECONDS connect, send for SECONDS, half-close, wait for the peer to close
 *
 * Each prints one "key=value" line; rates use the guest's monotonic clock (kvmclock), which is
 * the same source for both VMMs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int open_dev(const char *dev, int flags, uint64_t *size) {
    int fd = open(dev, flags | O_DIRECT);
    if (fd < 0) die(dev);
    if (ioctl(fd, BLKGETSIZE64, size) < 0) die("BLKGETSIZE64");
    if (*size < (1 << 20)) { fprintf(stderr, "%s: too small\n", dev); exit(1); }
    return fd;
}

static void *aligned(size_t n) {
    void *p;
    if (posix_memalign(&p, 4096, n)) die("posix_memalign");
    memset(p, 0x5a, n);
    return p;
}

static int seq(const char *dev, double secs, int write) {
    uint64_t size, off = 0, bytes = 0;
    int fd = open_dev(dev, write ? O_RDWR : O_RDONLY, &size);
    size_t bs = 1 << 20;
    char *buf = aligned(bs);
    double t0 = now(), t;
    do {
        if (off + bs > size) off = 0;
        ssize_t n = write ? pwrite(fd, buf, bs, off) : pread(fd, buf, bs, off);
        if (n != (ssize_t) bs) die(write ? "pwrite" : "pread");
        off += bs;
        bytes += bs;
        t = now();
    } while (t - t0 < secs);
    if (write && fdatasync(fd) < 0) die("fdatasync");
    t = now();
    printf("%s_mibs=%.2f\n", write ? "seqwrite" : "seqread", bytes / (t - t0) / (1 << 20));
    return 0;
}

static int randread(const char *dev, double secs) {
    uint64_t size, ops = 0, x = 88172645463325252ull;
    int fd = open_dev(dev, O_RDONLY, &size);
    char *buf = aligned(4096);
    uint64_t blocks = size / 4096;
    double t0 = now(), t;
    do {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;  /* xorshift64: no libc RNG state to worry about */
        if (pread(fd, buf, 4096, (x % blocks) * 4096) != 4096) die("pread");
        ops++;
        t = now();
    } while (t - t0 < secs);
    printf("randread_iops=%.0f\n", ops / (t - t0));
    return 0;
}

static int connect_to(const char *ip, const char *port) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", ip); exit(1); }
    for (int tries = 0; tries < 50; tries++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) die("socket");
        if (connect(s, (struct sockaddr *) &a, sizeof a) == 0) return s;
        close(s);
        usleep(100000);  /* the peer is a test driver that may still be starting its listener */
    }
    die("connect");
    return -1;
}

static int netrx(const char *ip, const char *port) {
    int s = connect_to(ip, port);
    static char buf[1 << 16];
    uint64_t bytes = 0;
    double t0 = -1;
    ssize_t n;
    while ((n = read(s, buf, sizeof buf)) > 0) {
        if (t0 < 0) t0 = now();
        bytes += n;
    }
    if (n < 0) die("read");
    double t = now();
    printf("net_rx_mibs=%.2f\n", t0 < 0 ? 0 : bytes / (t - t0) / (1 << 20));
    return 0;
}

static int nettx(const char *ip, const char *port, double secs) {
    int s = connect_to(ip, port);
    static char buf[1 << 16];
    memset(buf, 0xa5, sizeof buf);
    uint64_t bytes = 0;
    double t0 = now();
    do {
        ssize_t n = write(s, buf, sizeof buf);
        if (n <= 0) die("write");
        bytes += n;
    } while (now() - t0 < secs);
    shutdown(s, SHUT_WR);
    /* The peer closes once it has read everything: the rate includes draining the socket buffers. */
    while (read(s, buf, sizeof buf) > 0) {}
    printf("net_tx_mibs=%.2f\n", bytes / (now() - t0) / (1 << 20));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "seqread")) return seq(argv[2], atof(argv[3]), 0);
    if (argc == 4 && !strcmp(argv[1], "seqwrite")) return seq(argv[2], atof(argv[3]), 1);
    if (argc == 4 && !strcmp(argv[1], "randread")) return randread(argv[2], atof(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "netrx")) return netrx(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "nettx")) return nettx(argv[2], argv[3], atof(argv[4]));
    fprintf(stderr, "usage: guest-io seqread|seqwrite|randread DEV SECONDS | netrx IP PORT | nettx IP PORT SECONDS\n");
    return 2;
}
