import Foundation

/// Whether a larger value of a metric is better.
public enum MetricDirection: String, Sendable, Codable {
    case higherIsBetter = "higher"
    case lowerIsBetter = "lower"

    /// ↑ or ↓, as table headers show it.
    public var arrow: String { self == .higherIsBetter ? "↑" : "↓" }
}

/// What a metric is: the facts tables, plots and `fym-bench metrics` print.
public struct MetricDescriptor: Sendable, Codable, Equatable {
    /// Stable id, used in `rows.csv`, experiment configs and on the command line.
    public var id: String
    /// One line: what is measured and after whom.
    public var summary: String
    /// Unit of the reported value, e.g. "dB", "px", "×10⁻³".
    public var unit: String
    /// Smallest and largest possible values (nil = unbounded on that side).
    public var lowerBound: Double?
    public var upperBound: Double?
    public var direction: MetricDirection
    /// Which inputs it needs (for validation of experiments): source, edits, masks, landmarks, CLIP.
    public var requires: Set<MetricRequirement>

    public init(id: String, summary: String, unit: String, lowerBound: Double?, upperBound: Double?,
                direction: MetricDirection, requires: Set<MetricRequirement> = [.source]) {
        self.id = id
        self.summary = summary
        self.unit = unit
        self.lowerBound = lowerBound
        self.upperBound = upperBound
        self.direction = direction
        self.requires = requires
    }

    private enum CodingKeys: String, CodingKey {
        case id, summary, unit, lowerBound, upperBound, direction, requires
    }

    /// Encodes `requires` sorted, so that files holding descriptors (full_info.json) are the
    /// same from one process to the next (a Set's order is not).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(summary, forKey: .summary)
        try c.encode(unit, forKey: .unit)
        try c.encodeIfPresent(lowerBound, forKey: .lowerBound)
        try c.encodeIfPresent(upperBound, forKey: .upperBound)
        try c.encode(direction, forKey: .direction)
        try c.encode(requires.map(\.rawValue).sorted(), forKey: .requires)
    }

    /// "[0, 1]", "(-∞, 0]", … for listings.
    public var rangeText: String {
        let lo = lowerBound.map { MetricDescriptor.format($0) } ?? "-∞"
        let hi = upperBound.map { MetricDescriptor.format($0) } ?? "∞"
        return "\(lowerBound == nil ? "(" : "[")\(lo), \(hi)\(upperBound == nil ? ")" : "]")"
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(v)
    }
}

/// Inputs a metric needs besides the output frames.
public enum MetricRequirement: String, Sendable, Codable, Hashable {
    case source, edits, masks, landmarker, clip
}

/// A metric's values for one clip: one entry per frame and the clip aggregate.
///
/// Pairwise metrics store the value of the pair (t − 1, t) — or (0, t) for the long-range
/// variants — at index t, so index 0 is nil and curves line up with time. A frame that should
/// have a value but could not get one (no face found, empty mask) is listed in ``missingFrames``
/// and counted in the tables; it is never silently dropped.
public struct MetricResult: Sendable, Codable, Equatable {
    public var metric: String
    public var perFrame: [Double?]
    /// Mean of the available per-frame values; nil when none is available.
    public var value: Double?
    public var missingFrames: [Int]
    /// Set when the metric cannot run at all (e.g. no CLIP weights, no landmark model).
    public var unavailableReason: String?
    /// Variant pins (flow method, occlusion rule, landmark model, …) for captions and full_info.json.
    public var variant: String
    /// Auxiliary clip-level figures (e.g. mean occluded fraction), keyed by name.
    public var extras: [String: Double]

    public init(metric: String, perFrame: [Double?], missingFrames: [Int] = [], variant: String,
                extras: [String: Double] = [:]) {
        self.metric = metric
        self.perFrame = perFrame
        let values = perFrame.compactMap { $0 }
        self.value = values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        self.missingFrames = missingFrames
        self.unavailableReason = nil
        self.variant = variant
        self.extras = extras
    }

    /// A metric that could not run; tables print "n/a" with the reason as a footnote.
    public static func unavailable(_ metric: String, frames: Int, reason: String, variant: String = "") -> MetricResult {
        var r = MetricResult(metric: metric, perFrame: Array(repeating: nil, count: frames), variant: variant)
        r.unavailableReason = reason
        return r
    }
}

/// A metric plugin: a descriptor plus an evaluation over one clip's frames.
///
/// Adding a metric is one new type conforming to this protocol and one entry in
/// ``MetricCatalog/builtIn`` (or a catalogue of your own given to the harness).
public protocol Metric: Sendable {
    var descriptor: MetricDescriptor { get }
    /// The source-frame flows (from, to) the metric reads for a clip of `frameCount` frames: the
    /// harness computes them once per clip and shares them between methods. Empty by default.
    func sourceFlowPairs(frameCount: Int) -> [SourceFlowPair]
    func evaluate(_ context: MetricContext) throws -> MetricResult
}

extension Metric {
    public var id: String { descriptor.id }
}

/// Errors of metric selection and evaluation; each names what is wrong and how to fix it.
public enum MetricError: Error, CustomStringConvertible, Equatable {
    case unknownMetric(String, known: [String])
    case frameCountMismatch(what: String, expected: Int, got: Int)
    case frameSizeMismatch(what: String, index: Int, expected: String, got: String)
    case emptyClip

    public var description: String {
        switch self {
        case let .unknownMetric(name, known):
            return "unknown metric '\(name)'; known metrics: \(known.joined(separator: ", ")) (see `fym-bench metrics`)"
        case let .frameCountMismatch(what, expected, got):
            return "\(what) has \(got) frames but the output has \(expected); give one \(what) frame per output frame"
        case let .frameSizeMismatch(what, index, expected, got):
            return "\(what) frame \(index) is \(got) but the output frames are \(expected); resize to the evaluation resolution first"
        case .emptyClip:
            return "no output frames to evaluate"
        }
    }
}

/// A flow between two source frames, by index.
public struct SourceFlowPair: Hashable, Sendable {
    public var from: Int
    public var to: Int
    public init(from: Int, to: Int) {
        self.from = from
        self.to = to
    }
}

extension Metric {
    public func sourceFlowPairs(frameCount: Int) -> [SourceFlowPair] { [] }
}

/// A catalogue of metrics by id; the harness evaluates the metrics of an experiment from one
/// (``builtIn`` by default) and loads the models their descriptors require.
public struct MetricCatalog: Sendable {
    public let metrics: [any Metric]

    public init(_ metrics: [any Metric]) {
        precondition(Set(metrics.map(\.id)).count == metrics.count, "a metric id is listed twice")
        self.metrics = metrics
    }

    /// The built-in metrics (ARCHITECTURE.md §7).
    public static let builtIn = MetricCatalog([
        WarpErrorMetric(longRange: false),
        WarpErrorMetric(longRange: true),
        FlickerMetric(),
        MotionAlignmentMetric(),
        LandmarkDistanceMetric(region: .mouth),
        LandmarkDistanceMetric(region: .face),
        EditFidelityMetric(kind: .psnr),
        EditFidelityMetric(kind: .ssim),
        SourceFidelityMetric(kind: .psnr),
        SourceFidelityMetric(kind: .ssim),
        ClipMetric(kind: .text),
        ClipMetric(kind: .direction),
        ClipMetric(kind: .frame),
    ])

    public var ids: [String] { metrics.map(\.id) }

    /// The metric with this id.
    public func metric(_ id: String) throws(MetricError) -> any Metric {
        guard let m = metrics.first(where: { $0.id == id }) else { throw .unknownMetric(id, known: ids) }
        return m
    }

    public func adding(_ other: MetricCatalog) -> MetricCatalog { MetricCatalog(metrics + other.metrics) }
}
