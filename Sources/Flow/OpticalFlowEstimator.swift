import Foundation
import Imaging

/// Anything that computes a dense flow field from one frame to the next. The metrics and the
/// harness take an estimator by value, record its ``identifier`` and ``settings`` in
/// `full_info.json` and in table captions, and cache flows by them.
public protocol OpticalFlowEstimator: Sendable {
    /// A short stable name, e.g. `dis-medium`.
    var identifier: String { get }
    /// Every setting that changes the result (cache key and provenance).
    var settings: [String: String] { get }
    /// Flow from `first` to `second` (same size; any channel count — colour frames use Rec.601 luma).
    func flow(from first: Image, to second: Image) -> FlowField
}

/// Errors naming an unknown flow method.
public enum FlowMethodError: Error, CustomStringConvertible, Equatable {
    case unknown(String)

    public var description: String {
        switch self {
        case let .unknown(name):
            return "unknown flow method '\(name)'; choose one of: \(FlowMethods.names.joined(separator: ", "))"
        }
    }
}

/// The flow methods selectable by name (command-line `--preset`, experiment configs).
public enum FlowMethods {
    public static let names = ["dis-ultrafast", "dis-fast", "dis-medium", "horn-schunck", "horn-schunck-pyramid"]

    /// Accepts `dis-medium`, `medium`, `horn-schunck`, … (case-insensitive).
    public static func named(_ name: String) throws -> any OpticalFlowEstimator {
        let key = name.lowercased()
        let bare = key.hasPrefix("dis-") ? String(key.dropFirst(4)) : key
        if let preset = DISPreset(rawValue: bare) { return DISOpticalFlow(preset: preset) }
        switch key {
        case "horn-schunck", "hs": return HornSchunckFlow()
        case "horn-schunck-pyramid", "hs-pyramid": return HornSchunckFlow(levels: 4)
        default: throw FlowMethodError.unknown(name)
        }
    }
}
