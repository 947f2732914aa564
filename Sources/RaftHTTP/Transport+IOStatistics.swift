// How well the stream writers batch: what the benchmark harness reports as "frames per write
// syscall" and "bytes per write". Reads the counters of the connections attached right now; a
// stream that reconnected starts again from zero. Package API: only the bench reads it.
import RaftIO

/// Socket-level counters summed over the stream connections this transport writes to.
package struct StreamIOStatistics: Sendable, Hashable {
    /// Stream connections attached now (at most two per peer).
    package var connections: Int = 0
    /// Bytes handed to the kernel (ciphertext under TLS).
    package var bytesWritten: UInt64 = 0
    /// Socket write calls (`writev`/`write`, or TLS record flushes) made.
    package var socketWrites: UInt64 = 0
    /// Write calls into the connections' coalescing buffers (one per chunk of the stream body:
    /// size line, data and CRLF go in one gathered write). `appWrites / socketWrites` is the
    /// coalescing factor.
    package var appWrites: UInt64 = 0

    /// Counters with the given values (zero by default), for sums and differences.
    package init(connections: Int = 0, bytesWritten: UInt64 = 0, socketWrites: UInt64 = 0, appWrites: UInt64 = 0) {
        self.connections = connections
        self.bytesWritten = bytesWritten
        self.socketWrites = socketWrites
        self.appWrites = appWrites
    }
}

extension Transport {
    /// The write counters of every attached stream connection, summed. Any thread; it takes each
    /// writer's lock briefly, so call it once a second or at the end of a run, not per message.
    package var streamIOStatistics: StreamIOStatistics {
        var total = StreamIOStatistics()
        for peer in context.peers.withLock({ Array($0.values) }) {
            for writer in [peer.msgAppWriter, peer.messageWriter] {
                guard let s = writer.connectionStatistics else { continue }
                total.connections += 1
                total.bytesWritten += s.bytesWritten
                total.socketWrites += s.socketWrites
                total.appWrites += s.appWrites
            }
        }
        return total
    }
}
