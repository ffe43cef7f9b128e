import Foundation

/// The command-line programs the reports use (gnuplot, ffmpeg): found on `PATH` and run with
/// their error output captured, so a failure names the tool, the output and what it said.
enum ExternalTool {
    /// The executable `name` on `PATH` (default `/usr/bin:/bin`), or nil.
    static func find(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs `path` with `arguments` (in `directory` when given); nil on success, else the first
    /// 400 characters of its error output.
    static func run(_ path: String, _ arguments: [String], in directory: URL? = nil) throws -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = directory }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let message = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? nil : String(String(decoding: message, as: UTF8.self).prefix(400))
    }
}
