import Face
import Flow
import Foundation
import Hashing
import Imaging

/// Where a clip came from.
public enum ClipKind: String, Codable, Sendable {
    /// Generated in code with exact ground truth (landmarks, masks, normals, flow, trajectories).
    case synthetic
    /// A real video prepared by the suite (e.g. Carphone).
    case real
    /// Frames or a video a user brought (folder, video file, INSTA / VHAP / metrical-tracker layout).
    case user
}

/// A square (or rectangular) crop in the pixels of the original video, and the size it was
/// resampled to. Landmarks map as x' = (x − left + 0.5) · scaleX − 0.5.
public struct CropBox: Codable, Sendable, Equatable {
    public var left: Int
    public var top: Int
    public var width: Int
    public var height: Int
    public var outputWidth: Int
    public var outputHeight: Int

    public init(left: Int, top: Int, width: Int, height: Int, outputWidth: Int, outputHeight: Int) {
        self.left = left
        self.top = top
        self.width = width
        self.height = height
        self.outputWidth = outputWidth
        self.outputHeight = outputHeight
    }

    /// A point of the original frame in the crop's output pixels.
    public func map(_ p: SIMD2<Double>) -> SIMD2<Double> {
        SIMD2((p.x - Double(left) + 0.5) * Double(outputWidth) / Double(width) - 0.5,
              (p.y - Double(top) + 0.5) * Double(outputHeight) / Double(height) - 0.5)
    }
}

/// Pinhole intrinsics in pixels of the clip's frames (OpenCV axes, pixel centres at integers).
public struct CameraIntrinsics: Codable, Sendable, Equatable {
    public var fx: Double
    public var fy: Double
    public var cx: Double
    public var cy: Double

    public init(fx: Double, fy: Double, cx: Double, cy: Double) {
        self.fx = fx
        self.fy = fy
        self.cx = cx
        self.cy = cy
    }
}

/// `clip.json`: everything about a prepared clip except the per-frame data.
public struct ClipMetadata: Codable, Sendable, Equatable {
    public var formatVersion = 1
    public var dataset: String
    public var clip: String
    public var kind: ClipKind
    public var frameCount: Int
    public var width: Int
    public var height: Int
    public var fps: Double
    /// Where the frames came from (package and member, file path, or "generated").
    public var source: String
    public var licence: String
    /// How the landmarks were obtained, e.g. "ground truth" or "dlib-68 (Haar + 2 refinements), tracked".
    public var landmarkSource: String
    /// How the masks were obtained.
    public var maskSource: String
    public var crop: CropBox?
    public var camera: CameraIntrinsics?
    /// Frames without landmarks (no face found); their entries in landmarks.json are null.
    public var framesWithoutLandmarks: [Int]
    /// Checksums of inputs (e.g. "wheel_sha256", "video_sha256") and settings hashes.
    public var hashes: [String: String]
    /// Ground-truth channels present under `ground_truth/` (synthetic clips): "flow", "trajectories", "normals", "depth".
    public var groundTruth: [String]
    /// Free-form remarks of the preparation (warnings included).
    public var notes: [String]

    public init(dataset: String, clip: String, kind: ClipKind, frameCount: Int, width: Int, height: Int, fps: Double,
                source: String, licence: String, landmarkSource: String, maskSource: String, crop: CropBox? = nil,
                camera: CameraIntrinsics? = nil, framesWithoutLandmarks: [Int] = [], hashes: [String: String] = [:],
                groundTruth: [String] = [], notes: [String] = []) {
        self.dataset = dataset
        self.clip = clip
        self.kind = kind
        self.frameCount = frameCount
        self.width = width
        self.height = height
        self.fps = fps
        self.source = source
        self.licence = licence
        self.landmarkSource = landmarkSource
        self.maskSource = maskSource
        self.crop = crop
        self.camera = camera
        self.framesWithoutLandmarks = framesWithoutLandmarks
        self.hashes = hashes
        self.groundTruth = groundTruth
        self.notes = notes
    }

    /// `DATASET/CLIP`.
    public var address: String { "\(dataset)/\(clip)" }
}

/// A clip in memory: frames, per-frame landmarks (nil where no face was found) and head masks.
public struct Clip: Sendable {
    public var metadata: ClipMetadata
    public var frames: [Image]
    public var landmarks: [[SIMD2<Double>]?]
    /// One-channel head masks in [0, 1], one per frame.
    public var masks: [Image]

    public init(metadata: ClipMetadata, frames: [Image], landmarks: [[SIMD2<Double>]?], masks: [Image]) {
        self.metadata = metadata
        self.frames = frames
        self.landmarks = landmarks
        self.masks = masks
    }

    public var frameCount: Int { frames.count }
}

/// Errors reading, validating or writing clips; each names the file or key and the fix.
public enum ClipError: Error, CustomStringConvertible, Equatable {
    case notAClip(path: String)
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case missingFrame(path: String, index: Int)
    case mixedSizes(path: String, index: Int, expected: String, got: String)
    case countMismatch(path: String, what: String, expected: Int, got: Int)
    case noFrames(path: String)
    case unknownAddress(String, reason: String)
    case faceLost(clip: String, frames: Int, total: Int)
    case externalFrames(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notAClip(path):
            return "\(path) is not a prepared clip (no clip.json); prepare it with `fym-bench datasets prepare` or `datasets import`"
        case let .unreadable(path, reason):
            return "cannot read \(path): \(reason)"
        case let .malformed(path, reason):
            return "\(path) is malformed: \(reason)"
        case let .missingFrame(path, index):
            return "\(path): frame \(index) is missing; re-prepare the clip or restore the file"
        case let .mixedSizes(path, index, expected, got):
            return "\(path): frame \(index) is \(got) but frame 0 is \(expected); all frames of a clip must share one size"
        case let .countMismatch(path, what, expected, got):
            return "\(path): \(what) has \(got) entries but the clip has \(expected) frames"
        case let .noFrames(path):
            return "\(path) holds no frames (expected PNG files named in frame order)"
        case let .unknownAddress(address, reason):
            return "unknown clip '\(address)': \(reason) (see `fym-bench datasets list`)"
        case let .faceLost(clip, frames, total):
            return "\(clip): no face found in \(frames) of \(total) frames; the clip needs a visible frontal face in most frames"
        case let .unwritable(path, reason):
            return "cannot write \(path): \(reason)"
        case let .externalFrames(path, reason):
            return "frames made elsewhere, \(path): \(reason)"
        }
    }
}

/// The on-disk layout of a prepared clip (one directory):
///
///     clip.json                   ClipMetadata
///     frames/000000.png …         RGB frames, 8-bit
///     masks/000000.png …          head masks, 8-bit gray
///     landmarks.json              {"frames": [[[x, y] × 68] | null, …]} in frame pixels
///     ground_truth/flow/000000.f32 …          synthetic only: flow t → t+1 (raw float32 H×W×2)
///     ground_truth/trajectories/000000.f32 …  synthetic only: position in frame 0 of each pixel's surface point
///     ground_truth/visibility/000000.png …    synthetic only: where the trajectory is valid
///     ground_truth/normals/000000.png …       synthetic only: camera-space normals, (n + 1) / 2
///
/// Writes go to a temporary sibling directory that replaces the clip at the end, so an
/// interrupted preparation never leaves a half-written clip behind.
public enum ClipStore {
    public static func framePath(_ dir: URL, _ sub: String, _ index: Int, _ ext: String) -> URL {
        dir.appendingPathComponent(sub).appendingPathComponent(String(format: "%06d.%@", index, ext))
    }

    /// Writes a clip atomically into `directory` (replacing what was there). `extra` lets the
    /// caller add files (ground truth) into the temporary directory before it is moved in place.
    public static func write(_ clip: Clip, to directory: URL, extra: ((URL) throws -> Void)? = nil) throws {
        let fm = FileManager.default
        let parent = directory.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(directory.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
            try? fm.removeItem(at: staging)
            try fm.createDirectory(at: staging.appendingPathComponent("frames"), withIntermediateDirectories: true)
            try fm.createDirectory(at: staging.appendingPathComponent("masks"), withIntermediateDirectories: true)
        } catch {
            throw ClipError.unwritable(path: staging.path, reason: error.localizedDescription)
        }
        guard clip.landmarks.count == clip.frames.count, clip.masks.count == clip.frames.count else {
            try? fm.removeItem(at: staging)
            throw ClipError.countMismatch(path: directory.path, what: "landmarks/masks",
                                          expected: clip.frames.count, got: min(clip.landmarks.count, clip.masks.count))
        }
        do {
            for (i, frame) in clip.frames.enumerated() {
                try frame.writePNG(to: framePath(staging, "frames", i, "png"))
                try clip.masks[i].writePNG(to: framePath(staging, "masks", i, "png"))
            }
            try writeJSON(LandmarkFile(frames: clip.landmarks.map { $0?.map { [$0.x, $0.y] } }),
                          to: staging.appendingPathComponent("landmarks.json"))
            var metadata = clip.metadata
            metadata.frameCount = clip.frames.count
            metadata.width = clip.frames.first?.width ?? metadata.width
            metadata.height = clip.frames.first?.height ?? metadata.height
            metadata.framesWithoutLandmarks = clip.landmarks.indices.filter { clip.landmarks[$0] == nil }
            try writeJSON(metadata, to: staging.appendingPathComponent("clip.json"))
            try extra?(staging)
        } catch {
            // A failed write leaves no half-written folder behind.
            try? fm.removeItem(at: staging)
            throw error
        }
        // The old clip (if any) is moved aside, not removed, until the new one is in place.
        let previous = parent.appendingPathComponent(".\(directory.lastPathComponent).replaced-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            var movedAside = false
            if fm.fileExists(atPath: directory.path) {
                try? fm.removeItem(at: previous)
                try fm.moveItem(at: directory, to: previous)
                movedAside = true
            }
            do { try fm.moveItem(at: staging, to: directory) } catch {
                if movedAside { try? fm.moveItem(at: previous, to: directory) }
                throw error
            }
            if movedAside { try? fm.removeItem(at: previous) }
        } catch {
            try? fm.removeItem(at: staging)
            throw ClipError.unwritable(path: directory.path, reason: error.localizedDescription)
        }
    }

    /// Reads and validates a prepared clip.
    public static func read(_ directory: URL) throws -> Clip {
        let metadata = try readMetadata(directory)
        let frames = try readFrameSequence((0..<metadata.frameCount).map { framePath(directory, "frames", $0, "png") },
                                           folder: directory.appendingPathComponent("frames").path)
        let masks = try (0..<metadata.frameCount).map { i -> Image in
            let m = framePath(directory, "masks", i, "png")
            guard FileManager.default.fileExists(atPath: m.path) else { throw ClipError.missingFrame(path: m.path, index: i) }
            return try Image.readPNG(m).converted(toChannels: 1)
        }
        let landmarkURL = directory.appendingPathComponent("landmarks.json")
        let file: LandmarkFile = try readJSON(landmarkURL)
        guard file.frames.count == metadata.frameCount else {
            throw ClipError.countMismatch(path: landmarkURL.path, what: "frames", expected: metadata.frameCount, got: file.frames.count)
        }
        let landmarks = try file.frames.enumerated().map { i, pts -> [SIMD2<Double>]? in
            guard let pts else { return nil }
            guard pts.count == FaceTopology.count, pts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isFinite) }) else {
                throw ClipError.malformed(path: landmarkURL.path, reason: "frame \(i) needs 68 finite [x, y] pairs")
            }
            return pts.map { SIMD2($0[0], $0[1]) }
        }
        return Clip(metadata: metadata, frames: frames, landmarks: landmarks, masks: masks)
    }

    /// The PNG files of a folder in natural name order (frame2 before frame10); empty when the
    /// folder is missing.
    public static func pngFiles(in dir: URL) -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension.lowercased() == "png" }
            .sorted { $0.lastPathComponent.localizedStandardCompare($1.lastPathComponent) == .orderedAscending }
    }

    /// SHA-256 over the names and bytes of a folder's PNG files: the content identity of frames
    /// made elsewhere (cache keys change when any file changes).
    public static func contentHash(ofPNGsIn folder: URL) -> String {
        var h = SHA256()
        for f in pngFiles(in: folder) {
            h.update(Array(f.lastPathComponent.utf8))
            h.update((try? Data(contentsOf: f)) ?? Data())
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Frames made by an external tool for a clip of `count` frames of `width`×`height`: the first
    /// `count` PNG files of `folder` in natural name order. Too few files or another size is an
    /// error naming the folder or file — nothing is resampled or padded.
    public static func readExternalFrames(in folder: URL, count: Int, width: Int, height: Int) throws -> [Image] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ClipError.externalFrames(path: folder.path, reason: "does not exist or is not a folder; give the folder of PNG frames (one per source frame, in name order)")
        }
        let files = pngFiles(in: folder)
        guard files.count >= count else {
            throw ClipError.externalFrames(path: folder.path, reason: "holds \(files.count) PNG frames but the run uses \(count) frames of the clip; write one PNG per source frame")
        }
        return try files.prefix(count).map { url in
            let image = try Image.readPNG(url).converted(toChannels: 3)
            guard image.width == width, image.height == height else {
                throw ClipError.externalFrames(path: url.path, reason: "is \(image.width)x\(image.height), the clip is \(width)x\(height); write frames at the clip's size")
            }
            return image
        }
    }

    /// RGB frames from PNG files in order: every file must exist and all must share one size.
    public static func readFrameSequence(_ urls: [URL], folder: String) throws -> [Image] {
        guard !urls.isEmpty else { throw ClipError.noFrames(path: folder) }
        var frames: [Image] = []
        for (i, url) in urls.enumerated() {
            guard FileManager.default.fileExists(atPath: url.path) else { throw ClipError.missingFrame(path: url.path, index: i) }
            let image = try Image.readPNG(url).converted(toChannels: 3)
            if let first = frames.first, first.width != image.width || first.height != image.height {
                throw ClipError.mixedSizes(path: url.path, index: i, expected: "\(first.width)x\(first.height)",
                                           got: "\(image.width)x\(image.height)")
            }
            frames.append(image)
        }
        return frames
    }

    public static func readMetadata(_ directory: URL) throws -> ClipMetadata {
        let url = directory.appendingPathComponent("clip.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw ClipError.notAClip(path: directory.path) }
        let metadata: ClipMetadata = try readJSON(url)
        guard metadata.frameCount > 0, metadata.width > 0, metadata.height > 0 else {
            throw ClipError.malformed(path: url.path, reason: "frameCount, width and height must be positive")
        }
        return metadata
    }

    /// Ground-truth normal maps ((n + 1) / 2, camera space) of a synthetic clip, when present.
    public static func groundTruthNormals(_ directory: URL, frames: Int) throws -> [Image]? {
        try normalMaps(in: directory.appendingPathComponent("ground_truth"), frames: frames)
    }

    /// Normal maps `folder/normals/NNNNNN.png` ((n + 1)/2 per channel, 16-bit), nil when absent:
    /// the synthetic ground truth's layout, which the head avatar's outputs share.
    public static func normalMaps(in folder: URL, frames: Int) throws -> [Image]? {
        guard FileManager.default.fileExists(atPath: framePath(folder, "normals", 0, "png").path) else { return nil }
        return try (0..<frames).map { try Image.readPNG(framePath(folder, "normals", $0, "png")).converted(toChannels: 3) }
    }

    /// Ground-truth flow t → t+1 of a synthetic clip, when present.
    public static func groundTruthFlow(_ directory: URL, from t: Int, width: Int, height: Int) throws -> FlowField? {
        let url = framePath(directory.appendingPathComponent("ground_truth"), "flow", t, "f32")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try FlowField.readRaw(url, width: width, height: height)
    }

    struct LandmarkFile: Codable { var frames: [[[Double]]?] }

    /// A map as raw little-endian float32 (depth maps of the ground truth and of the avatar);
    /// non-finite values (no surface) are written as 0.
    public static func writeFloat32(_ values: [Float], to url: URL) throws {
        var bytes = [UInt8](repeating: 0, count: values.count * 4)
        bytes.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                raw.storeBytes(of: (v.isFinite ? v : 0).bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
        }
        try Data(bytes).write(to: url)
    }

    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try encoder.encode(value).write(to: url, options: .atomic) } catch {
            throw ClipError.unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    public static func readJSON<T: Decodable>(_ url: URL) throws -> T {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ClipError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw ClipError.malformed(path: url.path, reason: "\(error)")
        }
    }
}
