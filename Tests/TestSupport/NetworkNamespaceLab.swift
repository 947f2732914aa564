// A network namespace joined to this one by a veth pair, for real partitions. A process started in
// it (`ip netns exec`, see ``PeerProcess``) reaches this namespace's address over the veth, and the
// faults are nftables rules in a table inside the namespace: they touch nothing else on the
// machine and go away with it.
//
//   this namespace                          lab namespace rhtest-<pid>-<n>
//   rh<pid>x<n>h 10.213.K.1/24  <== veth ==>  rh<pid>x<n>n 10.213.K.2/24, lo up
//                                             table inet rafthttp_fault { chain input; chain output }
//
// Faults (rules on the namespace's end of the veth only; traffic over `lo` inside is untouched):
// - reset: TCP is answered with a reset both ways: dials are refused, open connections reset at
//   their next segment.
// - drop: every packet both ways vanishes (a pulled cable): connections hang, SYNs get no answer.
// - dropIncoming: only packets into the namespace vanish; its own still leave (a one-way cut).
// - blackhole: SYN and SYN-ACK pass, everything else vanishes: dials connect, then nothing arrives.
// Every rule counts what it matched (``packetCounts()``), so a test can show the fault was real.
//
// Needs root, iproute2 and nftables; ``unavailableReason`` says why not when they are missing.
import Foundation
import RaftIO

/// A network namespace with a veth pair to this one and an nftables table of its own for faults.
///
/// Create with ``with(_:)``, which removes the namespace, the veth pair and the rules on every path.
public final class NetworkNamespaceLab: Sendable {
    /// What the nftables rules do to the namespace's traffic (see the file's header).
    public enum Fault: String, Sendable, CustomStringConvertible {
        /// TCP answered with resets both ways: refused dials, reset connections.
        case reset
        /// Every packet dropped both ways, silently.
        case drop
        /// Packets into the namespace dropped; its own packets still leave.
        case dropIncoming
        /// Handshakes (SYN, SYN-ACK) pass; every other packet is dropped both ways.
        case blackhole

        public var description: String { rawValue }
    }

    /// Packets the rules matched since the last fault was applied, by direction.
    public struct PacketCounts: Sendable, Equatable {
        /// Into the namespace: dropped (or rejected) / let through by a counting rule.
        public var droppedIn = 0, passedIn = 0
        /// Out of the namespace.
        public var droppedOut = 0, passedOut = 0
    }

    /// A command of the lab failed.
    public struct LabError: Error, CustomStringConvertible {
        public var description: String
    }

    // MARK: immutable, any thread
    /// The namespace's name, for `ip netns exec`.
    public let name: String
    /// This namespace's end of the veth pair.
    public let hostInterface: String
    /// The address of this namespace's end (10.213.K.1): listen here to be reachable from the lab.
    public let hostAddress: String
    /// The lab namespace's end of the veth pair.
    public let namespaceInterface: String
    /// The address of the lab's end (10.213.K.2): a process in the lab listens here.
    public let namespaceAddress: String
    private let subnet: Int

    static let table = "rafthttp_fault"

    private init(name: String, hostInterface: String, namespaceInterface: String, subnet: Int) {
        self.name = name
        self.hostInterface = hostInterface
        self.namespaceInterface = namespaceInterface
        self.subnet = subnet
        hostAddress = "10.213.\(subnet).1"
        namespaceAddress = "10.213.\(subnet).2"
    }

    /// Nil when this process can build labs; otherwise why not (not root, programs missing, or
    /// the kernel refusing namespaces or nftables), for a skipped test to print. Checked once, by
    /// adding and deleting a namespace with a table in it.
    public static let unavailableReason: String? = {
        guard getuid() == 0 else {
            return "real partitions need root (running as uid \(getuid())): network namespaces, veth pairs and nftables rules"
        }
        guard haveProgram("ip"), haveProgram("nft") else {
            return "real partitions need ip and nft: apt-get install -y iproute2 nftables"
        }
        let probe = "rhprobe-\(getpid())"
        let added = try? run("ip", ["netns", "add", probe])
        guard let added, added.status == 0 else {
            return "`ip netns add` failed: \(added?.stderr.trimmingCharacters(in: .whitespacesAndNewlines) ?? "could not run ip")"
        }
        defer { _ = try? run("ip", ["netns", "del", probe]) }
        let nft = try? run("ip", ["netns", "exec", probe, "nft", "add table inet \(table)"])
        guard let nft, nft.status == 0 else {
            return "nftables does not work in a network namespace: \(nft?.stderr.trimmingCharacters(in: .whitespacesAndNewlines) ?? "could not run nft")"
        }
        return nil
    }()

    /// Subnets (the K of 10.213.K.0/24) taken by this process's labs.
    private static let taken = Locked<Set<Int>>([])
    private static let serial = Locked(0)
    private static let swept = Locked(false)

    /// Runs `body` with a fresh lab and removes it afterwards, also when `body` throws.
    ///
    /// - Throws: ``LabError`` when the lab cannot be built (nothing is left behind), or what
    ///   `body` throws.
    public static func with<T>(_ body: (NetworkNamespaceLab) async throws -> T) async throws -> T {
        let lab = try await create()
        return try await withCleanUp { try await body(lab) } cleanUp: { await lab.remove() }
    }

    private static func create() async throws -> NetworkNamespaceLab {
        await sweepLeftovers()
        let used = try await ip(["-4", "-o", "addr", "show"]).stdout
        let subnet = try taken.withLock { taken in
            guard let k = (1...254).first(where: { !taken.contains($0) && !used.contains("10.213.\($0).") }) else {
                throw LabError(description: "no free subnet in 10.213.0.0/16")
            }
            taken.insert(k)
            return k
        }
        let n = serial.withLock { $0 += 1; return $0 }
        let pid = getpid()
        let lab = NetworkNamespaceLab(name: "rhtest-\(pid)-\(n)", hostInterface: "rh\(pid)x\(n)h",
                                      namespaceInterface: "rh\(pid)x\(n)n", subnet: subnet)
        do {
            try await lab.build()
        } catch {
            await lab.remove()
            throw error
        }
        return lab
    }

    private func build() async throws {
        try await Self.ip(["netns", "add", name])
        try await Self.ip(["link", "add", hostInterface, "type", "veth", "peer", "name", namespaceInterface, "netns", name])
        try await Self.ip(["addr", "add", "\(hostAddress)/24", "dev", hostInterface])
        try await Self.ip(["link", "set", hostInterface, "up"])
        try await Self.ip(["-n", name, "addr", "add", "\(namespaceAddress)/24", "dev", namespaceInterface])
        try await Self.ip(["-n", name, "link", "set", namespaceInterface, "up"])
        try await Self.ip(["-n", name, "link", "set", "lo", "up"])
        let t = "inet \(Self.table)"
        try await nft("add table \(t); "
            + "add chain \(t) input { type filter hook input priority 0; policy accept; }; "
            + "add chain \(t) output { type filter hook output priority 0; policy accept; }")
    }

    /// Deletes the veth pair (both ends go together), the namespace and with it the rules.
    /// Idempotent; never throws. Kill processes running inside first: a namespace that still holds
    /// a process lives on, unnamed, until that process exits.
    public func remove() async {
        _ = try? await runDetached("ip", ["link", "del", hostInterface])
        _ = try? await runDetached("ip", ["netns", "del", name])
        _ = Self.taken.withLock { $0.remove(subnet) }
    }

    /// Replaces the rules with those of `fault` and zeroes the counters, in one nftables
    /// transaction.
    public func apply(_ fault: Fault) async throws {
        let inRule = "add rule inet \(Self.table) input iifname \"\(namespaceInterface)\""
        let outRule = "add rule inet \(Self.table) output oifname \"\(namespaceInterface)\""
        var rules: [String]
        switch fault {
        case .reset:
            // The resets the input rule sends back leave through the output chain: let them out.
            rules = ["\(inRule) meta l4proto tcp counter reject with tcp reset comment \"dropped-in\"",
                     "\(inRule) counter drop comment \"dropped-in\"",
                     "\(outRule) tcp flags & rst == rst counter accept comment \"passed-out\"",
                     "\(outRule) meta l4proto tcp counter reject with tcp reset comment \"dropped-out\"",
                     "\(outRule) counter drop comment \"dropped-out\""]
        case .drop:
            rules = ["\(inRule) counter drop comment \"dropped-in\"",
                     "\(outRule) counter drop comment \"dropped-out\""]
        case .dropIncoming:
            rules = ["\(inRule) counter drop comment \"dropped-in\"",
                     "\(outRule) counter accept comment \"passed-out\""]
        case .blackhole:
            rules = ["\(inRule) tcp flags & syn == syn counter accept comment \"passed-in\"",
                     "\(inRule) counter drop comment \"dropped-in\"",
                     "\(outRule) tcp flags & syn == syn counter accept comment \"passed-out\"",
                     "\(outRule) counter drop comment \"dropped-out\""]
        }
        try await nft((flushCommands + rules).joined(separator: "; "))
    }

    /// Removes every fault rule: packets flow again. Connections that hung keep their state and
    /// recover at TCP's next retransmission.
    public func heal() async throws {
        try await nft(flushCommands.joined(separator: "; "))
    }

    /// What the current fault's rules have counted.
    public func packetCounts() async throws -> PacketCounts {
        let listing = try await runNft("list table inet \(Self.table)").stdout
        var counts = PacketCounts()
        for line in listing.split(separator: "\n") {
            guard let p = line.range(of: "packets "), let c = line.range(of: "comment \"") else { continue }
            let packets = Int(line[p.upperBound...].prefix { $0.isNumber }) ?? 0
            switch line[c.upperBound...].prefix(while: { $0 != "\"" }) {
            case "dropped-in": counts.droppedIn += packets
            case "passed-in": counts.passedIn += packets
            case "dropped-out": counts.droppedOut += packets
            case "passed-out": counts.passedOut += packets
            default: break
            }
        }
        return counts
    }

    private var flushCommands: [String] {
        ["flush chain inet \(Self.table) input", "flush chain inet \(Self.table) output"]
    }

    private func nft(_ script: String) async throws {
        _ = try await runNft(script)
    }

    private func runNft(_ script: String) async throws -> ShellResult {
        let r = try await runDetached("ip", ["netns", "exec", name, "nft", script])
        guard r.status == 0 else { throw LabError(description: "nft \(script): \(r.stderr)") }
        return r
    }

    @discardableResult
    private static func ip(_ arguments: [String]) async throws -> ShellResult {
        let r = try await runDetached("ip", arguments)
        guard r.status == 0 else {
            throw LabError(description: "ip \(arguments.joined(separator: " ")): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return r
    }

    /// Removes labs of test processes that died without cleaning up (killed mid-test), once per
    /// process: their namespaces and host-side veth ends, so that their subnets are free again.
    private static func sweepLeftovers() async {
        guard swept.withLock({ done in defer { done = true }; return !done }) else { return }
        guard let list = try? await runDetached("ip", ["netns", "list"]).stdout else { return }
        for line in list.split(separator: "\n") {
            let name = line.split(separator: " ").first.map(String.init) ?? ""
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == "rhtest", let pid = Int32(parts[1]), let n = Int(parts[2]),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? await runDetached("ip", ["link", "del", "rh\(pid)x\(n)h"])
            _ = try? await runDetached("ip", ["netns", "del", name])
        }
    }
}
