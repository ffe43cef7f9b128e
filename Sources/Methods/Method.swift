import Editing
import Foundation
import Imaging
import PortraitData
@_exported import TypedSettings  // settings types are part of the method API

/// Everything a method sees for one cell of the run matrix (ARCHITECTURE.md §2): the clip's source
/// frames S_t with landmarks and masks, and the edit (per-frame edits E_t and the prompt).
public struct MethodInput: Sendable {
    /// Source frames S_t at the evaluation resolution: the consistency reference (ground-truth
    /// frames of synthetic clips or the real frames until the avatar stage exists, avatar renders after).
    public var source: [Image]
    public var landmarks: [[SIMD2<Double>]?]
    /// Head masks, one channel per frame.
    public var masks: [Image]
    public var clip: ClipMetadata
    public var edit: EditResult
    /// The cell's seed (methods draw all randomness from it).
    public var seed: UInt64
    /// A directory the method may use for its own intermediate files (kept between runs).
    public var workDirectory: URL
    /// The clip's trained head avatar, given to methods whose ``VideoEditingMethod/needsAvatar``
    /// is true (nil otherwise). Frame t of the input is frame t of the avatar.
    public var avatar: AvatarReference?
    /// A directory shared by every cell of the method in the same cache, for intermediate
    /// results that depend on the clip but not on the edit (FYM's source-trained model); key the
    /// files by their inputs and write them atomically. Nil outside the harness.
    public var sharedDirectory: URL?
    /// Where the method records the time of its own stages and its reports (nil: not recorded).
    public var recorder: MethodRecorder?

    public init(source: [Image], landmarks: [[SIMD2<Double>]?], masks: [Image], clip: ClipMetadata, edit: EditResult,
                seed: UInt64, workDirectory: URL, avatar: AvatarReference? = nil, sharedDirectory: URL? = nil,
                recorder: MethodRecorder? = nil) {
        self.source = source
        self.landmarks = landmarks
        self.masks = masks
        self.clip = clip
        self.edit = edit
        self.seed = seed
        self.workDirectory = workDirectory
        self.avatar = avatar
        self.sharedDirectory = sharedDirectory
        self.recorder = recorder
    }
}

/// What a method reports about one run besides its frames: the seconds spent in its own stages
/// (e.g. FYM's "source" and "edit"; the harness adds them to the run's stage timings as
/// `method:<label>/<stage>`) and named JSON reports (kept with the cell's output and copied to
/// the experiment's `reports/`). Safe to use from several threads.
public final class MethodRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var stages: [String: Double] = [:]
    private var reports: [String: Data] = [:]

    public init() {}

    /// Adds `seconds` to the stage's time.
    public func record(stage: String, seconds: Double) {
        lock.withLock { stages[stage, default: 0] += seconds }
    }

    /// Keeps a report (JSON bytes) under a name made of letters, digits, '-', '_' and '.'.
    public func attach(report name: String, json: Data) {
        precondition(!name.isEmpty && name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) && !name.hasPrefix("."),
                     "report names are plain file names")
        lock.withLock { reports[name] = json }
    }

    public var stageSeconds: [String: Double] { lock.withLock { stages } }

    /// A stopwatch over consecutive stages: each `lap(stage)` records the time since the previous
    /// lap (or since `laps()` was called) under `stage`.
    public func laps() -> (String) -> Void {
        var clock = DispatchTime.now().uptimeNanoseconds
        return { [self] stage in
            let now = DispatchTime.now().uptimeNanoseconds
            record(stage: stage, seconds: Double(now - clock) * 1e-9)
            clock = now
        }
    }
    public var attachedReports: [String: Data] { lock.withLock { reports } }
}

/// Where the avatar stage (ARCHITECTURE.md §4) left the clip's trained head avatar: a folder with
/// `gaussians.safetensors`, `tracking.json`, `settings.json` and per-frame `renders/`, `alpha/`,
/// `depth/`, `normals/`, `trajectories/` at the clip's own resolution (read it with
/// `AvatarPipeline.loadAvatar(from:)` in HeadAvatar). Methods built on the avatar — avatar-refit,
/// FYM, ConsistentAvatar — receive it; the harness trains it once per clip and caches it.
public struct AvatarReference: Sendable, Equatable {
    /// The avatar stage's output folder.
    public var directory: URL
    /// The avatar's cache key (part of the cache key of every method cell that uses it).
    public var key: String

    public init(directory: URL, key: String) {
        self.directory = directory
        self.key = key
    }
}

/// A video editing method: FYM, its ablations, every baseline and the reference methods below
/// are this one kind of thing. `run` returns one output frame per source frame, same size.
public protocol VideoEditingMethod: Sendable {
    /// Stable id used in experiment configs and tables.
    var id: String { get }
    /// Every setting that changes the output (cache key, provenance, table captions).
    var settings: [String: String] { get }
    /// Whether the method needs the clip's trained head avatar (``MethodInput/avatar``); the
    /// harness then trains or reads it before the method runs. False by default.
    var needsAvatar: Bool { get }
    /// What the method reads besides its ``MethodInput`` and settings (e.g. frames made
    /// elsewhere), as extra parts of its cache key for `clip`. Empty by default.
    func externalInputs(for clip: ClipMetadata) -> [String: String]
    /// A version of the method's code, part of its cache key: change it when the same settings
    /// give different frames, so cached cells are recomputed. Empty by default (no key part).
    var codeVersion: String { get }
    func run(_ input: MethodInput) throws -> [Image]
}

extension VideoEditingMethod {
    public var needsAvatar: Bool { false }
    public func externalInputs(for clip: ClipMetadata) -> [String: String] { [:] }
    public var codeVersion: String { "" }
}

/// Errors of method selection and execution; each says what is wrong and the fix.
public enum MethodError: Error, CustomStringConvertible, Equatable {
    case unknownMethod(String, known: [String])
    case unknownSetting(method: String, key: String, known: [String])
    case invalidSetting(method: String, key: String, reason: String)
    case wrongOutput(method: String, reason: String)
    case framesFolder(path: String, reason: String)
    case invalidInput(method: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownMethod(id, known):
            return "unknown method '\(id)'; known methods: \(known.joined(separator: ", ")), or frames:DIR (see `fym-bench methods`)"
        case let .unknownSetting(method, key, known):
            return "method \(method) has no setting '\(key)'" + (known.isEmpty ? " (it takes none)" : "; its settings: \(known.joined(separator: ", "))")
        case let .invalidSetting(method, key, reason):
            return "method \(method), setting '\(key)': \(reason)"
        case let .wrongOutput(method, reason):
            return "method \(method) returned unusable output: \(reason)"
        case let .framesFolder(path, reason):
            return "frames folder \(path): \(reason)"
        case let .invalidInput(method, reason):
            return "method \(method) cannot run on this input: \(reason)"
        }
    }
}

/// The unedited source frames — the temporal-consistency reference (perfectly consistent, no edit).
public struct SourceMethod: CatalogMethod {
    public static let methodID = "source"
    public static let summary = "the unedited source frames (consistency reference, no edit)"
    public let options: NoSettings
    public init(options: NoSettings = NoSettings()) { self.options = options }
    public func run(_ input: MethodInput) throws -> [Image] { input.source }
}

/// The raw per-frame edits E_t — what the per-frame tool gives before any consistency method.
public struct PerFrameMethod: CatalogMethod {
    public static let methodID = "per-frame"
    public static let summary = "the raw per-frame edits of the editing tool (no consistency method)"
    public let options: NoSettings
    public init(options: NoSettings = NoSettings()) { self.options = options }
    public func run(_ input: MethodInput) throws -> [Image] { input.edit.frames }
}

/// Output frames made by any external tool: `frames:DIR` holds one PNG per source frame (name
/// order), or one sub-folder per clip named `DATASET_CLIP` / `CLIP` when a run spans several clips
/// (the first that exists is used). Count and size are checked.
public struct ExternalFramesMethod: VideoEditingMethod {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public var id: String { "frames:\(directory.path)" }
    public var settings: [String: String] { ["directory": directory.path] }

    /// The folder holding this clip's frames: `DIR/DATASET_CLIP`, `DIR/CLIP` or `DIR` itself,
    /// the first that holds PNG files (nil when none does).
    public func folder(for clip: ClipMetadata) -> URL? {
        let candidates = [directory.appendingPathComponent("\(clip.dataset)_\(clip.clip)"),
                          directory.appendingPathComponent(clip.clip), directory]
        return candidates.first { !ClipStore.pngFiles(in: $0).isEmpty }
    }

    /// The content of the clip's frame files (hashed, not decoded): outputs made elsewhere change
    /// without the method's settings changing.
    public func externalInputs(for clip: ClipMetadata) -> [String: String] {
        guard let folder = folder(for: clip) else { return [:] }
        return ["frames_hash": ClipStore.contentHash(ofPNGsIn: folder)]
    }

    public func run(_ input: MethodInput) throws -> [Image] {
        guard FileManager.default.fileExists(atPath: directory.path) else {
            throw MethodError.framesFolder(path: directory.path, reason: "does not exist; give the folder of the method's output frames")
        }
        guard let folder = folder(for: input.clip) else {
            throw MethodError.framesFolder(path: directory.path, reason: "no PNG frames in it, in \(input.clip.dataset)_\(input.clip.clip)/ or in \(input.clip.clip)/")
        }
        return try ClipStore.readExternalFrames(in: folder, count: input.source.count,
                                                width: input.source[0].width, height: input.source[0].height)
    }
}

/// A method the catalogue makes from settings: its id, one-line summary and settings type are
/// declared once on the type; `id` and `settings` follow from them. Adding a baseline is one
/// file with such a type and `.method(MyMethod.self)` in a catalogue (Baselines/README.md).
public protocol CatalogMethod: VideoEditingMethod {
    associatedtype Options: SettingsType
    /// The id in experiment files and tables.
    static var methodID: String { get }
    /// One line for `fym-bench methods`: what the method does, with its citation.
    static var summary: String { get }
    /// The method's settings.
    var options: Options { get }
    init(options: Options)
}

extension CatalogMethod {
    public var id: String { Self.methodID }
    public var settings: [String: String] { options.dictionary }

    /// The method with settings parsed from strings (the schema's defaults for missing keys).
    public init(parsing strings: [String: String]) throws(MethodError) {
        do { self.init(options: try Options(parsing: strings)) } catch { throw MethodError(setting: error, method: Self.methodID) }
    }
}

extension MethodError {
    /// The settings error of method `method`.
    public init(setting error: SettingError, method: String) {
        switch error {
        case let .unknownKey(key, known): self = .unknownSetting(method: method, key: key, known: known)
        case let .invalidValue(key, reason): self = .invalidSetting(method: method, key: key, reason: reason)
        }
    }
}

/// A catalogue of methods by id with a one-line summary, their settings and a factory taking the
/// experiment's settings. FYM, its ablations and the baselines add entries; `frames:DIR` is
/// always available.
public struct MethodCatalog: Sendable {
    public struct Entry: Sendable {
        public var id: String
        public var summary: String
        /// Every setting with its default, accepted values and description.
        public var settings: [SettingHelp]
        let makeMethod: @Sendable ([String: String]) throws(MethodError) -> any VideoEditingMethod

        public var settingKeys: [String] { settings.map(\.key) }

        /// The entry of a ``CatalogMethod`` type: everything is read from the type.
        public static func method<M: CatalogMethod>(_ type: M.Type) -> Entry {
            Entry(id: M.methodID, summary: M.summary, settings: M.Options.schema.help) { strings throws(MethodError) in
                try M(parsing: strings)
            }
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        precondition(Set(entries.map(\.id)).count == entries.count, "a method id is listed twice")
        self.entries = entries
    }

    /// The reference methods every experiment can use.
    public static let reference = MethodCatalog(entries: [.method(SourceMethod.self), .method(PerFrameMethod.self)])

    public func adding(_ other: MethodCatalog) -> MethodCatalog { MethodCatalog(entries: entries + other.entries) }

    public var ids: [String] { entries.map(\.id) }

    public func make(_ id: String, settings: [String: String] = [:]) throws -> any VideoEditingMethod {
        if id.hasPrefix("frames:") {
            guard settings.isEmpty else { throw MethodError.unknownSetting(method: "frames:DIR", key: settings.keys.sorted()[0], known: []) }
            return ExternalFramesMethod(directory: URL(fileURLWithPath: String(id.dropFirst(7))))
        }
        guard let entry = entries.first(where: { $0.id == id }) else { throw MethodError.unknownMethod(id, known: ids) }
        return try entry.makeMethod(settings)
    }
}
