import Foundation
import Imaging
import PortraitData
import TypedSettings

/// One edit of a clip: per-frame edited frames E_t and what was asked for.
///
/// Per-frame editors (text-driven editors, relighting tools) edit every frame independently, so
/// E_t flickers; the methods under test turn (S, E) into temporally consistent output.
public struct EditResult: Sendable {
    /// The edited frames, one per source frame, same size.
    public var frames: [Image]
    /// The instruction, e.g. "turn the hair blue".
    public var prompt: String
    /// Caption of the source and of the intended result (for CLIP directional similarity).
    public var sourceCaption: String
    public var targetCaption: String
    public var seed: UInt64
    /// Per-frame masks of the region the edit targets (1 channel), when the tool knows them.
    public var masks: [Image]?
    /// Tool id and settings, for provenance and cache keys.
    public var tool: String
    public var settings: [String: String]

    public init(frames: [Image], prompt: String, sourceCaption: String, targetCaption: String, seed: UInt64,
                masks: [Image]? = nil, tool: String, settings: [String: String] = [:]) {
        self.frames = frames
        self.prompt = prompt
        self.sourceCaption = sourceCaption
        self.targetCaption = targetCaption
        self.seed = seed
        self.masks = masks
        self.tool = tool
        self.settings = settings
    }
}

/// What an editing tool is asked to do on one clip.
public struct EditRequest: Sendable {
    public var prompt: String
    public var seed: UInt64
    /// Tool-specific settings from the experiment (e.g. "consistency": "0").
    public var settings: [String: String]
    /// Per-frame camera-space normal maps, (n + 1) / 2 in OpenCV axes, when the clip has them
    /// (ground truth of synthetic clips, avatar renders): tools that shade use them instead of
    /// estimating normals.
    public var normals: [Image]?

    public init(prompt: String, seed: UInt64, settings: [String: String] = [:], normals: [Image]? = nil) {
        self.prompt = prompt
        self.seed = seed
        self.settings = settings
        self.normals = normals
    }
}

/// An editing tool: turns source frames into per-frame edits.
public protocol EditingTool: Sendable {
    /// Stable id used in experiment configs (`tool:`).
    var id: String { get }
    /// Everything that changes the output besides the request (cache key, provenance).
    var settings: [String: String] { get }
    func edit(frames: [Image], clip: ClipMetadata, landmarks: [[SIMD2<Double>]?], masks: [Image],
              request: EditRequest) throws -> EditResult
    /// The prompts the tool understands, for `fym-bench edit --list` (empty: free-form or none).
    var knownPrompts: [String] { get }
    /// The settings an edit request may give the tool (`edits[].settings`), declared once.
    var requestSettings: [SettingHelp] { get }
    /// Checks a request's settings before any work: an unknown key or an invalid value is an
    /// ``EditingToolError`` naming the key.
    func validate(requestSettings: [String: String]) throws
    /// Checks that the tool understands `prompt`, before any work (a typed error naming it).
    func validate(prompt: String) throws
}

extension EditingTool {
    public var knownPrompts: [String] { [] }
    /// Free-form tools accept any prompt.
    public func validate(prompt: String) throws {}
}

/// A tool whose request settings are one ``SettingsType``.
public protocol EditingToolWithSettings: EditingTool {
    associatedtype RequestSettings: SettingsType
}

extension EditingToolWithSettings {
    public var requestSettings: [SettingHelp] { RequestSettings.schema.help }
    public func validate(requestSettings strings: [String: String]) throws { _ = try RequestSettings.request(strings) }
}

/// Errors of editing tools; each names what is wrong and the fix.
public enum EditError: Error, CustomStringConvertible, Equatable {
    case unknownTool(String, known: [String])
    case frameCount(tool: String, expected: Int, got: Int)
    case unknownPrompt(String, known: [String])

    public var description: String {
        switch self {
        case let .unknownTool(name, known):
            return "unknown editing tool '\(name)'; known tools: \(known.joined(separator: ", ")), or frames:DIR for edits made elsewhere"
        case let .frameCount(tool, expected, got):
            return "editing tool \(tool) returned \(got) frames for a \(expected)-frame clip"
        case let .unknownPrompt(prompt, known):
            return "the instruction editor does not know '\(prompt)'; known prompts: \(known.joined(separator: "; ")) (see `fym-bench edit --list`)"
        }
    }
}

/// Edits made by any external tool: a folder of PNG frames (name order), one per source frame, at
/// the clip's resolution. Sizes must match exactly and there must be at least as many frames as
/// the clip has (extra ones are ignored): nothing is resampled or padded silently.
public struct ExternalFramesTool: EditingToolWithSettings {
    public typealias RequestSettings = CaptionRequestSettings
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public var id: String { "frames:\(directory.path)" }
    public var settings: [String: String] { ["directory": directory.path] }

    public func edit(frames: [Image], clip: ClipMetadata, landmarks: [[SIMD2<Double>]?], masks: [Image],
                     request: EditRequest) throws -> EditResult {
        let edited = try ClipStore.readExternalFrames(in: directory, count: frames.count,
                                                      width: frames[0].width, height: frames[0].height)
        let captions = try CaptionRequestSettings.request(request.settings)
        return EditResult(frames: edited, prompt: request.prompt, sourceCaption: captions.sourceCaption,
                          targetCaption: captions.targetCaption.isEmpty ? request.prompt : captions.targetCaption, seed: request.seed,
                          masks: nil, tool: id, settings: settings)
    }
}

/// The editing tools selectable by id. `frames:DIR` names a folder of externally edited frames.
public enum EditingTools {
    /// Built-in tools by id: the tools listed in ``builtInEditingTools`` (BuiltInTools.swift).
    public static let builtIn: [String: any EditingTool] = Dictionary(
        uniqueKeysWithValues: builtInEditingTools.map { ($0.id, $0) })

    public static func named(_ id: String) throws -> any EditingTool {
        if id.hasPrefix("frames:") { return ExternalFramesTool(directory: URL(fileURLWithPath: String(id.dropFirst(7)))) }
        if let tool = builtIn[id] { return tool }
        throw EditError.unknownTool(id, known: builtIn.keys.sorted())
    }
}
