// Video decode/encode through the ffmpeg/ffprobe command-line tools (https://ffmpeg.org/ffmpeg.html),
// run with Foundation `Process`. Frames travel as numbered PNG files (`%05d.png`, from 00001).

import Foundation

/// A typed error from ``VideoIO``; each case names the file or tool, the problem and a fix.
public enum VideoIOError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `ffmpeg` or `ffprobe` is not on `PATH`.
    case toolNotFound(tool: String)
    /// The input video or frame directory does not exist.
    case inputMissing(path: String)
    /// The tool ran but exited with a non-zero status.
    case processFailed(tool: String, path: String, status: Int32, stderr: String)
    /// The output directory already holds numbered frames that would be mixed with new ones.
    case outputNotEmpty(path: String)
    /// No frames were found or produced.
    case noFrames(path: String)
    /// ffprobe output could not be understood, or the file has no video stream.
    case probeFailed(path: String, detail: String)
    /// An argument is out of range (fps ≤ 0, frames of different sizes…).
    case invalidArgument(String)
    /// Writing or reading a frame PNG failed.
    case frameIO(ImageIOError)

    public var description: String {
        switch self {
        case .toolNotFound(let t):
            return "\(t) not found on PATH. Fix: install it with `apt-get install ffmpeg` (`make test` installs the required system packages)."
        case .inputMissing(let p):
            return "\(p): no such file or directory. Fix: check the path."
        case .processFailed(let t, let p, let s, let e):
            let tail = e.split(separator: "\n").suffix(6).joined(separator: "\n")
            return "\(p): \(t) exited with status \(s): \(tail). Fix: check that the input is a valid video/frames and the codec is available (`\(t) -encoders`)."
        case .outputNotEmpty(let p):
            return "\(p): directory already contains numbered frame PNGs. Fix: use an empty or new directory."
        case .noFrames(let p):
            return "\(p): no frames found. Fix: check that the video has a video stream / the directory holds 00001.png, 00002.png, …"
        case .probeFailed(let p, let d):
            return "\(p): cannot probe video (\(d)). Fix: check that the file is a valid video with a video stream."
        case .invalidArgument(let m):
            return "invalid argument: \(m)"
        case .frameIO(let e):
            return e.description
        }
    }
}

/// Stream facts reported by ffprobe.
public struct VideoInfo: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Number of decoded frames (ffprobe `-count_frames`, `nb_read_frames`).
    public var frameCount: Int
    /// Average frame rate (`avg_frame_rate`, falling back to `r_frame_rate`).
    public var fps: Double
    /// Codec name, e.g. `h264`, `ffv1`, `png`.
    public var codec: String
}

/// Video codecs for ``VideoIO/encode(frames:to:fps:codec:)``.
public enum VideoCodec: Sendable, Equatable {
    /// libx264 if available, else mpeg4.
    case auto
    /// H.264 via libx264, `yuv420p`, CRF 18 (lossy; odd sizes are padded to even).
    case h264
    /// MPEG-4 part 2, `yuv420p`, `-q:v 2` (lossy; odd sizes are padded to even).
    case mpeg4
    /// FFV1 with `bgr0` pixels: lossless RGB (use `.mkv`).
    case ffv1
    /// PNG-coded frames, `rgb24`: lossless (use `.mkv` or `.mov`).
    case png
}

/// Video decoding/encoding with the `ffmpeg` and `ffprobe` executables found on `PATH`.
/// Missing tools give ``VideoIOError/toolNotFound(tool:)`` (ffmpeg is a required system package).
public enum VideoIO {
    /// Locates `tool` on `PATH`.
    public static func locate(_ tool: String) throws(VideoIOError) -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(tool)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw .toolNotFound(tool: tool)
    }

    /// Names of the encoders this ffmpeg build offers (`ffmpeg -encoders`).
    public static func availableEncoders() throws(VideoIOError) -> Set<String> {
        let out = try run("ffmpeg", ["-hide_banner", "-encoders"], subject: "ffmpeg")
        var names = Set<String>()
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, parts[0].count == 6, parts[0] != "------" { names.insert(String(parts[1])) }
        }
        return names
    }

    /// Decodes every frame of `video` to `dir/00001.png, 00002.png, …` (RGB 8-bit) and returns
    /// their URLs in order. Without `fps` all frames are kept as stored (`-vsync 0`); with `fps`
    /// the stream is resampled by ffmpeg's `fps` filter. `dir` is created if needed and must not
    /// already contain numbered frames.
    public static func decode(video: URL, to dir: URL, fps: Double? = nil) throws(VideoIOError) -> [URL] {
        guard FileManager.default.fileExists(atPath: video.path) else { throw .inputMissing(path: video.path) }
        if let f = fps, !(f > 0) { throw .invalidArgument("fps must be positive, got \(f)") }
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw .processFailed(tool: "mkdir", path: dir.path, status: -1, stderr: error.localizedDescription)
        }
        if !frameFiles(in: dir).isEmpty { throw .outputNotEmpty(path: dir.path) }
        var args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", video.path]
        if let f = fps { args += ["-vf", "fps=\(f)"] } else { args += ["-vsync", "0"] }
        args += ["-pix_fmt", "rgb24", "-start_number", "1", dir.appendingPathComponent("%05d.png").path]
        _ = try run("ffmpeg", args, subject: video.path)
        let frames = frameFiles(in: dir)
        if frames.isEmpty { throw .noFrames(path: video.path) }
        return frames
    }

    /// Decodes a video into images (through a temporary directory that is removed afterwards).
    public static func decodeImages(video: URL, fps: Double? = nil) throws(VideoIOError) -> [Image] {
        let tmp = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let urls = try decode(video: video, to: tmp, fps: fps)
        var images: [Image] = []
        for u in urls {
            do { images.append(try Image.readPNG(u)) } catch { throw .frameIO(error) }
        }
        return images
    }

    /// Encodes the numbered frames `dir/%05d.png` (starting at the lowest number present) to
    /// `output` at `fps` frames per second.
    public static func encode(framesIn dir: URL, to output: URL, fps: Double,
                              codec: VideoCodec = .auto) throws(VideoIOError) {
        guard fps > 0 else { throw .invalidArgument("fps must be positive, got \(fps)") }
        let frames = frameFiles(in: dir)
        guard let first = frames.first else { throw .noFrames(path: dir.path) }
        let startNumber = Int(first.deletingPathExtension().lastPathComponent) ?? 1
        var chosen = codec
        if chosen == .auto { chosen = try availableEncoders().contains("libx264") ? .h264 : .mpeg4 }
        let evenPad = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        let codecArgs: [String]
        switch chosen {
        case .h264: codecArgs = evenPad + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18"]
        case .mpeg4: codecArgs = evenPad + ["-c:v", "mpeg4", "-pix_fmt", "yuv420p", "-q:v", "2"]
        case .ffv1: codecArgs = ["-c:v", "ffv1", "-pix_fmt", "bgr0"]
        case .png: codecArgs = ["-c:v", "png", "-pix_fmt", "rgb24"]
        case .auto: codecArgs = []
        }
        let args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-framerate", "\(fps)", "-start_number", "\(startNumber)",
                    "-i", dir.appendingPathComponent("%05d.png").path]
            + codecArgs + ["-r", "\(fps)", output.path]
        _ = try run("ffmpeg", args, subject: output.path)
    }

    /// Encodes images (all the same size) to `output` at `fps` via temporary PNG frames
    /// (8-bit; alpha is dropped by the codecs).
    public static func encode(frames: [Image], to output: URL, fps: Double,
                              codec: VideoCodec = .auto) throws(VideoIOError) {
        guard let first = frames.first else { throw .noFrames(path: output.path) }
        for (i, f) in frames.enumerated() where f.width != first.width || f.height != first.height {
            throw .invalidArgument("frame \(i) is \(f.width)x\(f.height), frame 0 is \(first.width)x\(first.height)")
        }
        let tmp = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        do {
            try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        } catch {
            throw .processFailed(tool: "mkdir", path: tmp.path, status: -1, stderr: error.localizedDescription)
        }
        for (i, f) in frames.enumerated() {
            let url = tmp.appendingPathComponent(String(format: "%05d.png", i + 1))
            do { try f.writePNG(to: url, bitDepth: 8, fast: true) } catch { throw .frameIO(error) }
        }
        try encode(framesIn: tmp, to: output, fps: fps, codec: codec)
    }

    /// Width, height, decoded frame count, frame rate and codec of the first video stream.
    public static func probe(_ url: URL) throws(VideoIOError) -> VideoInfo {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .inputMissing(path: url.path) }
        let out = try run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-count_frames",
                                      "-show_entries",
                                      "stream=width,height,nb_read_frames,avg_frame_rate,r_frame_rate,codec_name",
                                      "-of", "json", url.path], subject: url.path)
        guard let obj = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
              let streams = obj["streams"] as? [[String: Any]], let s = streams.first
        else { throw .probeFailed(path: url.path, detail: "no video stream in ffprobe output") }
        func int(_ k: String) -> Int? {
            if let v = s[k] as? Int { return v }
            if let v = s[k] as? String { return Int(v) }
            return nil
        }
        func rate(_ k: String) -> Double? {
            guard let v = s[k] as? String else { return nil }
            let p = v.split(separator: "/")
            if p.count == 2, let a = Double(p[0]), let b = Double(p[1]), b != 0 { return a / b }
            return Double(v)
        }
        guard let w = int("width"), let h = int("height") else {
            throw .probeFailed(path: url.path, detail: "ffprobe reported no width/height")
        }
        let fps = [rate("avg_frame_rate"), rate("r_frame_rate")].compactMap { $0 }.first { $0 > 0 } ?? 0
        return VideoInfo(width: w, height: h, frameCount: int("nb_read_frames") ?? 0, fps: fps,
                         codec: s["codec_name"] as? String ?? "")
    }

    // MARK: Internals

    /// Files named like `00001.png` in `dir`, sorted by number.
    static func frameFiles(in dir: URL) -> [URL] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return names.filter { n in
            n.hasSuffix(".png") && n.count == 9 && n.prefix(5).allSatisfy { $0.isASCII && $0.isNumber }
        }.sorted().map { dir.appendingPathComponent($0) }
    }

    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("fym-video-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
    }

    /// Runs a tool from PATH, returning its stdout; non-zero exit → ``VideoIOError/processFailed``.
    /// Output goes to temporary files, so large outputs cannot dead-lock a pipe.
    static func run(_ tool: String, _ args: [String], subject: String) throws(VideoIOError) -> String {
        let exe = try locate(tool)
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("fym-proc-\(UUID().uuidString)")
        let outURL = base.appendingPathExtension("out"), errURL = base.appendingPathExtension("err")
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let status: Int32
        do {
            _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
            _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
            let outH = try FileHandle(forWritingTo: outURL), errH = try FileHandle(forWritingTo: errURL)
            defer { try? outH.close(); try? errH.close() }
            let p = Process()
            p.executableURL = exe
            p.arguments = args
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = outH
            p.standardError = errH
            try p.run()
            p.waitUntilExit()
            status = p.terminationStatus
        } catch {
            throw .processFailed(tool: tool, path: subject, status: -1, stderr: error.localizedDescription)
        }
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        if status != 0 {
            let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
            throw .processFailed(tool: tool, path: subject, status: status, stderr: err)
        }
        return out
    }
}
