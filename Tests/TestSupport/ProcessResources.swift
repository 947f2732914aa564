import Foundation

/// Counts of what the process holds, read from /proc.
public enum ProcessResources {
    /// Open file descriptors (entries of /proc/self/fd).
    public static func openFileDescriptors() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
    }

    /// Threads (entries of /proc/self/task).
    public static func threads() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).count
    }

    /// Threads named `name` (their /proc/self/task/<tid>/comm), e.g. "rio-loop" for event loops.
    public static func threads(named name: String) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { tid in
            let comm = (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8)) ?? ""
            return comm.trimmingCharacters(in: .whitespacesAndNewlines) == name
        }.count
    }

    /// Whether this process runs under AddressSanitizer. Its quarantine keeps freed memory
    /// resident (256 MiB by default), so RSS bounds do not hold there; its leak checker, which
    /// runs at exit, covers memory instead.
    public static let underAddressSanitizer: Bool = dlsym(nil, "__asan_init") != nil

    /// Whether this process runs under ThreadSanitizer (every memory access instrumented: code
    /// runs 5-15 times slower).
    public static let underThreadSanitizer: Bool = dlsym(nil, "__tsan_init") != nil

    /// How many times longer than usual things take in this build: 10 under ThreadSanitizer, 3
    /// under AddressSanitizer, else 1. See ``timeBound(_:)``.
    public static let timeScale: Int = underThreadSanitizer ? 10 : underAddressSanitizer ? 3 : 1

    /// Resident set size in bytes (VmRSS of /proc/self/status).
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return kb * 1024
        }
        return 0
    }
}

/// `bound` scaled by ``ProcessResources/timeScale``: for the upper bounds that tests put on
/// protocol timing (a timeout firing, a retry happening) and on waits, which a sanitizer's
/// slowdown would otherwise break. Lower bounds are never scaled.
public func timeBound(_ bound: Duration) -> Duration {
    bound * ProcessResources.timeScale
}
