/*
 * The machine's floor for a cross-thread round trip over loopback: two threads, blocking
 * read/write of 64 bytes on a TCP connection, one in flight. Our loop-thread ping-pong is measured
 * against this (`make baselines`).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int rounds;

static void read_full(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) { perror("read"); exit(1); }
        got += (size_t)r;
    }
}

static void *echo(void *arg) {
    int fd = *(int *)arg;
    char buf[64];
    for (int i = 0; i < rounds; i++) {
        read_full(fd, buf, sizeof(buf));
        if (write(fd, buf, sizeof(buf)) != sizeof(buf)) { perror("write"); exit(1); }
    }
    return NULL;
}

int main(int argc, char **argv) {
    rounds = argc > 1 ? atoi(argv[1]) : 100000;
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(ls, (struct sockaddr *)&a, sizeof(a));
    listen(ls, 1);
    getsockname(ls, (struct sockaddr *)&a, &len);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof(a)) != 0) { perror("connect"); return 1; }
    int s = accept(ls, NULL, NULL);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pthread_t t;
    pthread_create(&t, NULL, echo, &s);
    char buf[64] = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < rounds; i++) {
        if (write(c, buf, sizeof(buf)) != sizeof(buf)) { perror("write"); return 1; }
        read_full(c, buf, sizeof(buf));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("C blocking 64 B ping-pong: %d round trips, %.0f RT/s, %.2f us per round trip\n",
           rounds, rounds / secs, secs * 1e6 / rounds);
    return 0;
}
