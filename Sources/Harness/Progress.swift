import Foundation

/// Progress with ETA: a rewritten line on a terminal, plain log lines otherwise.
final class Progress: @unchecked Sendable {
    let total: Int
    let log: @Sendable (String) -> Void
    let start = DispatchTime.now().uptimeNanoseconds
    private var done = 0
    private let lock = NSLock()
    let terminal = isatty(STDERR_FILENO) != 0

    init(total: Int, log: @escaping @Sendable (String) -> Void) {
        self.total = total
        self.log = log
    }

    func step(_ what: String) {
        let (n, line) = lock.withLock { () -> (Int, String) in
            done += 1
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
            return (done, String(format: "[%d/%d] %@ (%.0f s elapsed, ETA %.0f s)", done, total, what, elapsed, eta))
        }
        if terminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (n == total ? "\n" : "")).utf8))
        } else {
            log(line)
        }
    }
}
