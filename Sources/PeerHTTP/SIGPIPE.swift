// libuv writes to sockets with write(2), so a peer that reset its connection raises SIGPIPE, whose
// default action kills the process. libuv leaves ignoring it to the application; a server or client
// must not die because a peer went away, so creating one ignores SIGPIPE process-wide (as Go's
// runtime does for sockets). The write then fails with EPIPE and the connection closes.
// UNTESTED: a RaftIO-level fix (ignore in EventLoopGroup.init) would cover raw Connection users too.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ignores SIGPIPE once per process.
let ignoreSIGPIPE: Void = {
    _ = signal(SIGPIPE, SIG_IGN)
}()
