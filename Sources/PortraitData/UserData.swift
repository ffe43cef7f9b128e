import Foundation
import Imaging

/// The layouts of user data the loader recognises (FORMATS.md §5).
public enum UserLayout: String, Sendable, Codable {
    /// A video file ffmpeg can read.
    case video
    /// A folder of PNG frames, in file-name order.
    case frameFolder = "frame-folder"
    /// INSTA: `transforms.json` (+ `_train/_test/_val`), `images/`, `seg_mask/`.
    case insta
    /// VHAP / GaussianAvatars export: `transforms*.json` whose frames carry `timestep_index`, `fg_mask_path`.
    case vhap
    /// metrical-tracker input: `images/` + `kpt/<id>.npy` (68×2 landmarks).
    case metricalTracker = "metrical-tracker"
}

/// Frames (and whatever per-frame data the layout carries) read from user data.
public struct UserFrames: Sendable {
    public var layout: UserLayout
    public var frames: [Image]
    public var fps: Double?
    /// Landmarks given by the layout (metrical-tracker), in frame pixels; nil when absent.
    public var landmarks: [[SIMD2<Double>]?]?
    /// Foreground masks given by the layout (INSTA `seg_mask`, VHAP `fg_mask_path`).
    public var masks: [Image]?
    public var camera: CameraIntrinsics?
    public var source: String
}

/// Loads user data from a path, recognising the layout from its marker files. Every failure is a
/// ``ClipError`` naming the file and what is wrong.
public enum UserDataLoader {
    static let videoExtensions: Set<String> = ["mp4", "mov", "avi", "mkv", "webm", "m4v", "y4m", "mpg", "mpeg"]

    /// The layout of `path` without reading the frames.
    public static func detectLayout(_ path: URL) throws -> UserLayout {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw ClipError.unreadable(path: path.path, reason: "no such file or directory")
        }
        if !isDirectory.boolValue {
            guard videoExtensions.contains(path.pathExtension.lowercased()) else {
                throw ClipError.unreadable(path: path.path, reason: "not a video file (extensions: \(videoExtensions.sorted().joined(separator: ", "))) or a folder")
            }
            return .video
        }
        let fm = FileManager.default
        let names = Set((try? fm.contentsOfDirectory(atPath: path.path)) ?? [])
        let transforms = names.filter { $0.hasPrefix("transforms") && $0.hasSuffix(".json") }
        if !transforms.isEmpty {
            for name in transforms.sorted() {
                if let frames = (try? jsonObject(path.appendingPathComponent(name)))?["frames"] as? [[String: Any]],
                   let first = frames.first, first["timestep_index"] != nil || first["fg_mask_path"] != nil {
                    return .vhap
                }
            }
            return .insta
        }
        if names.contains("images") && names.contains("kpt") { return .metricalTracker }
        return .frameFolder
    }

    public static func load(_ path: URL) throws -> UserFrames {
        switch try detectLayout(path) {
        case .video: return try loadVideo(path)
        case .frameFolder: return try loadFolder(path)
        case .insta: return try loadINSTA(path)
        case .vhap: return try loadVHAP(path)
        case .metricalTracker: return try loadMetricalTracker(path)
        }
    }

    static func loadVideo(_ url: URL) throws -> UserFrames {
        let info: VideoInfo
        let frames: [Image]
        do {
            info = try VideoIO.probe(url)
            frames = try VideoIO.decodeImages(video: url)
        } catch {
            throw ClipError.unreadable(path: url.path, reason: "ffmpeg cannot read it: \(error)")
        }
        guard !frames.isEmpty else { throw ClipError.noFrames(path: url.path) }
        return UserFrames(layout: .video, frames: frames, fps: info.fps, landmarks: nil, masks: nil, camera: nil, source: url.path)
    }


    static func loadFolder(_ dir: URL) throws -> UserFrames {
        let frames = try ClipStore.readFrameSequence(ClipStore.pngFiles(in: dir), folder: dir.path)
        return UserFrames(layout: .frameFolder, frames: frames, fps: nil, landmarks: nil, masks: nil, camera: nil, source: dir.path)
    }

    static func jsonObject(_ url: URL) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ClipError.unreadable(path: url.path, reason: error.localizedDescription) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ClipError.malformed(path: url.path, reason: "not a JSON object")
        }
        return object
    }

    static func intrinsics(_ t: [String: Any]) -> CameraIntrinsics? {
        guard let fx = (t["fl_x"] as? NSNumber)?.doubleValue, let fy = (t["fl_y"] as? NSNumber)?.doubleValue,
              let cx = (t["cx"] as? NSNumber)?.doubleValue, let cy = (t["cy"] as? NSNumber)?.doubleValue else { return nil }
        return CameraIntrinsics(fx: fx, fy: fy, cx: cx, cy: cy)
    }

    /// INSTA: frames in the order of `transforms.json` (or train+val+test when only split files
    /// exist), sorted by image id; masks from `seg_mask/` with the same file name when present.
    static func loadINSTA(_ dir: URL) throws -> UserFrames {
        var entries: [(String, [String: Any])] = []
        var camera: CameraIntrinsics?
        let whole = dir.appendingPathComponent("transforms.json")
        let files = FileManager.default.fileExists(atPath: whole.path)
            ? [whole] : ["train", "val", "test"].map { dir.appendingPathComponent("transforms_\($0).json") }
                .filter { FileManager.default.fileExists(atPath: $0.path) }
        for file in files {
            let t = try jsonObject(file)
            camera = camera ?? intrinsics(t)
            guard let frames = t["frames"] as? [[String: Any]] else {
                throw ClipError.malformed(path: file.path, reason: "key 'frames' must be a list")
            }
            for (i, f) in frames.enumerated() {
                guard let p = f["file_path"] as? String else {
                    throw ClipError.malformed(path: file.path, reason: "frames[\(i)] has no 'file_path'")
                }
                entries.append((p, f))
            }
        }
        let paths = Array(Set(entries.map(\.0))).sorted { $0.localizedStandardCompare($1) == .orderedAscending }
        let urls = paths.map { dir.appendingPathComponent($0.hasSuffix(".png") ? $0 : $0 + ".png") }
        let frames = try ClipStore.readFrameSequence(urls, folder: dir.appendingPathComponent("images").path)
        let maskDir = dir.appendingPathComponent("seg_mask")
        var masks: [Image]?
        if FileManager.default.fileExists(atPath: maskDir.path) {
            masks = try urls.enumerated().map { i, url in
                let m = maskDir.appendingPathComponent(url.lastPathComponent)
                guard FileManager.default.fileExists(atPath: m.path) else { throw ClipError.missingFrame(path: m.path, index: i) }
                // INSTA seg masks label face parts with values > 0; foreground is anything non-zero.
                return try Image.readPNG(m).luma().map { $0 > 0 ? 1 : 0 }
            }
        }
        return UserFrames(layout: .insta, frames: frames, fps: nil, landmarks: nil, masks: masks, camera: camera, source: dir.path)
    }

    /// VHAP / GaussianAvatars: frames of camera 0 ordered by `timestep_index`, masks from `fg_mask_path`.
    static func loadVHAP(_ dir: URL) throws -> UserFrames {
        var entries: [(Int, URL, URL?)] = []
        var seen = Set<Int>()
        var camera: CameraIntrinsics?
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { $0.hasPrefix("transforms") && $0.hasSuffix(".json") }.sorted()
        for name in files {
            let file = dir.appendingPathComponent(name)
            let t = try jsonObject(file)
            camera = camera ?? intrinsics(t)
            for (i, f) in ((t["frames"] as? [[String: Any]]) ?? []).enumerated() {
                if let cam = f["camera_index"] as? Int, cam != 0 { continue }
                guard let step = f["timestep_index"] as? Int, let p = f["file_path"] as? String else {
                    throw ClipError.malformed(path: file.path, reason: "frames[\(i)] needs 'timestep_index' and 'file_path'")
                }
                if seen.insert(step).inserted {
                    entries.append((step, dir.appendingPathComponent(p), (f["fg_mask_path"] as? String).map { dir.appendingPathComponent($0) }))
                }
            }
        }
        entries.sort { $0.0 < $1.0 }
        let frames = try ClipStore.readFrameSequence(entries.map(\.1), folder: dir.path)
        var masks: [Image]?
        if entries.allSatisfy({ $0.2 != nil }) {
            masks = try entries.enumerated().map { i, e in
                guard FileManager.default.fileExists(atPath: e.2!.path) else { throw ClipError.missingFrame(path: e.2!.path, index: i) }
                return try Image.readPNG(e.2!).luma()
            }
        }
        return UserFrames(layout: .vhap, frames: frames, fps: nil, landmarks: nil, masks: masks, camera: camera, source: dir.path)
    }

    /// metrical-tracker: `images/*.png` with `kpt/<same stem>.npy` holding 68×2 landmarks.
    static func loadMetricalTracker(_ dir: URL) throws -> UserFrames {
        let urls = ClipStore.pngFiles(in: dir.appendingPathComponent("images"))
        let frames = try ClipStore.readFrameSequence(urls, folder: dir.appendingPathComponent("images").path)
        let landmarks = try urls.map { url -> [SIMD2<Double>]? in
            let npy = dir.appendingPathComponent("kpt").appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".npy")
            guard FileManager.default.fileExists(atPath: npy.path) else { return nil }
            let array = try NumPyArray.read(npy)
            guard array.shape.count == 2, array.shape[0] == 68, array.shape[1] >= 2 else {
                throw ClipError.malformed(path: npy.path, reason: "expected a 68×2 array, got shape \(array.shape)")
            }
            return (0..<68).map { SIMD2(array.values[$0 * array.shape[1]], array.values[$0 * array.shape[1] + 1]) }
        }
        return UserFrames(layout: .metricalTracker, frames: frames, fps: nil, landmarks: landmarks, masks: nil, camera: nil, source: dir.path)
    }
}

/// A NumPy `.npy` array (format versions 1–3, C order, little-endian or byte-sized numbers),
/// converted to Double.
public struct NumPyArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Double]

    public static func read(_ url: URL) throws -> NumPyArray {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ClipError.unreadable(path: url.path, reason: error.localizedDescription) }
        return try parse(data, path: url.path)
    }

    public static func parse(_ data: Data, path: String) throws -> NumPyArray {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw ClipError.malformed(path: path, reason: "not a .npy file (magic \\x93NUMPY missing)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            guard bytes.count >= 12 else { throw ClipError.malformed(path: path, reason: "truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        }
        guard headerStart + headerLength <= bytes.count else { throw ClipError.malformed(path: path, reason: "truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let q1 = descrField.firstIndex(of: "'"),
              let q2 = descrField[descrField.index(after: q1)...].firstIndex(of: "'") else {
            throw ClipError.malformed(path: path, reason: "header has no 'descr'")
        }
        let descr = String(descrField[descrField.index(after: q1)..<q2])
        if let fortran = field("fortran_order"), fortran.hasPrefix("True") {
            throw ClipError.malformed(path: path, reason: "Fortran-order arrays are not supported; save with np.ascontiguousarray")
        }
        guard let shapeField = field("shape"), let open = shapeField.firstIndex(of: "("), let close = shapeField.firstIndex(of: ")") else {
            throw ClipError.malformed(path: path, reason: "header has no 'shape'")
        }
        let shape = shapeField[shapeField.index(after: open)..<close].split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = headerStart + headerLength
        let kinds: [String: (Int, (UnsafeRawBufferPointer, Int) -> Double)] = [
            "<f8": (8, { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt64.self))) }),
            "<f4": (4, { Double(Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt32.self)))) }),
            "<i8": (8, { Double(Int64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int64.self))) }),
            "<i4": (4, { Double(Int32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int32.self))) }),
            "|u1": (1, { Double($0[$1]) }),
            "|i1": (1, { Double(Int8(bitPattern: $0[$1])) }),
        ]
        guard let (size, load) = kinds[descr] else {
            throw ClipError.malformed(path: path, reason: "dtype '\(descr)' is not supported (use float32/float64/int32/int64/uint8)")
        }
        guard bytes.count >= body + count * size else {
            throw ClipError.malformed(path: path, reason: "holds \(bytes.count - body) data bytes, shape \(shape) needs \(count * size)")
        }
        let values = bytes.withUnsafeBytes { raw in (0..<count).map { load(raw, body + $0 * size) } }
        return NumPyArray(shape: shape, values: values)
    }
}
