import TypedSettings

/// The request settings of the per-frame editors (`edits[].settings` of an experiment), declared once.
public struct ConsistencyRequestSettings: SettingsType, Equatable {
    /// How consistent the per-frame edits are: 0 edits every frame independently (flickering like
    /// a per-frame diffusion editor), 1 nearly consistent.
    public var consistency: Double = 0

    public init() {}

    public static let schema = SettingsSchema<ConsistencyRequestSettings>([
        .number("consistency", \.consistency, in: .closed(0, 1), "0: every frame edited independently (flickers), 1: nearly consistent"),
    ])
}

/// The request settings of edits made elsewhere (`frames:DIR`): the captions of the CLIP metrics.
public struct CaptionRequestSettings: SettingsType, Equatable {
    /// Caption of the unedited frames.
    public var sourceCaption = "a portrait photo"
    /// Caption of the intended result (empty: the prompt).
    public var targetCaption = ""

    public init() {}

    public static let schema = SettingsSchema<CaptionRequestSettings>([
        .text("source_caption", \.sourceCaption, "caption of the unedited frames (CLIP directional similarity)"),
        .text("target_caption", \.targetCaption, "caption of the intended result (empty: the prompt)"),
    ])
}

extension SettingsType {
    /// The settings of an edit request, or the tool's typed error naming the key.
    static func request(_ strings: [String: String]) throws(EditingToolError) -> Self {
        do { return try Self(parsing: strings) } catch {
            switch error {
            case let .unknownKey(key, known): throw .unknownSetting(key: key, known: known)
            case let .invalidValue(key, reason): throw .invalidSetting(key: key, value: strings[key] ?? "", expected: reason)
            }
        }
    }
}
