#ifndef CRAFTIO_H
#define CRAFTIO_H
/* CRaftIO: the thin C core of swift-rafthttp (libuv event plumbing and OpenSSL TLS). */
int rio_version(void);
#endif
