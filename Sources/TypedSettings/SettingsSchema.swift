/// Typed settings declared once (ARCHITECTURE.md §8, "Settings").
///
/// A settings type is a struct whose stored properties carry the defaults; its ``SettingsSchema``
/// names each property's key, accepted values and a one-line description. Everything else is
/// derived from that one declaration: parsing the strings of an experiment file (with errors
/// that name the key and the accepted values), the string dictionary that cache keys and tables
/// use, and the help that `fym-bench methods` prints.
///
///     public struct TemporalSmoothingSettings: SettingsType {
///         public var alpha: Float = 0.5
///         public init() {}
///         public static let schema = SettingsSchema<Self>([
///             .number("alpha", \.alpha, in: .openClosed(0, 1), "weight of the current frame's edit"),
///         ])
///     }

/// A type of settings with defaults (its `init()`) and a schema.
public protocol SettingsType: Sendable {
    /// The defaults.
    init()
    static var schema: SettingsSchema<Self> { get }
}

extension SettingsType {
    /// Parses settings given as strings (keys of the schema, or `preset`): a typed error names
    /// an unknown key or an invalid value and what is accepted.
    public init(parsing strings: [String: String]) throws(SettingError) {
        self = try Self.schema.parse(strings)
    }

    /// The settings as the strings the harness keys and reports (every key, defaults included).
    public var dictionary: [String: String] { Self.schema.dictionary(self) }
}

/// An invalid settings dictionary.
public enum SettingError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A key the schema does not declare; `known` lists the keys it does.
    case unknownKey(String, known: [String])
    /// A value outside the accepted ones; `reason` quotes the value and says what is accepted.
    case invalidValue(key: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownKey(key, known):
            return "no setting '\(key)'" + (known.isEmpty ? " (it takes none)" : "; its settings: \(known.joined(separator: ", "))")
        case let .invalidValue(key, reason):
            return "setting '\(key)': \(reason)"
        }
    }
}

/// A real interval, for rules and validation of number settings.
public struct NumberInterval: Sendable, Equatable {
    public var lower: Double?
    public var lowerIncluded: Bool
    public var upper: Double?
    public var upperIncluded: Bool

    public static func closed(_ a: Double, _ b: Double) -> Self { .init(lower: a, lowerIncluded: true, upper: b, upperIncluded: true) }
    public static func open(_ a: Double, _ b: Double) -> Self { .init(lower: a, lowerIncluded: false, upper: b, upperIncluded: false) }
    public static func openClosed(_ a: Double, _ b: Double) -> Self { .init(lower: a, lowerIncluded: false, upper: b, upperIncluded: true) }
    public static func atLeast(_ a: Double) -> Self { .init(lower: a, lowerIncluded: true, upper: nil, upperIncluded: false) }
    public static func above(_ a: Double) -> Self { .init(lower: a, lowerIncluded: false, upper: nil, upperIncluded: false) }

    public func contains(_ v: Double) -> Bool {
        guard v.isFinite else { return false }
        if let l = lower, lowerIncluded ? v < l : v <= l { return false }
        if let u = upper, upperIncluded ? v > u : v >= u { return false }
        return true
    }

    /// "(0, 1]", "0…1", "≥ 0", "> 0".
    public var text: String {
        func f(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
        switch (lower, upper) {
        case let (l?, u?):
            if lowerIncluded && upperIncluded { return "\(f(l))…\(f(u))" }
            return "\(lowerIncluded ? "[" : "(")\(f(l)), \(f(u))\(upperIncluded ? "]" : ")")"
        case let (l?, nil): return "\(lowerIncluded ? "≥" : ">") \(f(l))"
        case let (nil, u?): return "\(upperIncluded ? "≤" : "<") \(f(u))"
        case (nil, nil): return "any finite number"
        }
    }
}

/// One setting of `Root`: its key, what it accepts, a one-line description and how it is read
/// from and written to a `Root` value. Build fields with the static constructors.
public struct SettingField<Root>: Sendable {
    /// The key in experiment files (snake_case).
    public let key: String
    /// What the setting is, in one line (units included).
    public let summary: String
    /// The accepted values in words, e.g. "a number in (0, 1]", "one of poisson, none".
    public let rule: String
    let read: @Sendable (Root) -> String
    /// Writes the parsed value; false when the text is not accepted.
    let write: @Sendable (inout Root, String) -> Bool

    public init(key: String, summary: String, rule: String, read: @escaping @Sendable (Root) -> String,
                write: @escaping @Sendable (inout Root, String) -> Bool) {
        self.key = key
        self.summary = summary
        self.rule = rule
        self.read = read
        self.write = write
    }

    /// A `Float` in `interval`, written as Swift prints it ("0.5", "0.001").
    public static func number(_ key: String, _ path: WritableKeyPath<Root, Float> & Sendable, in interval: NumberInterval,
                              _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: (interval.lower == nil || interval.upper == nil ? "a number " : "a number in ") + interval.text, read: { String($0[keyPath: path]) }) { root, text in
            guard let v = Float(text.trimmedSpaces), interval.contains(Double(v)) else { return false }
            root[keyPath: path] = v
            return true
        }
    }

    /// A `Double` in `interval`, written as Swift prints it.
    public static func number(_ key: String, _ path: WritableKeyPath<Root, Double> & Sendable, in interval: NumberInterval,
                              _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: (interval.lower == nil || interval.upper == nil ? "a number " : "a number in ") + interval.text,
              read: { String($0[keyPath: path]) }) { root, text in
            guard let v = Double(text.trimmedSpaces), interval.contains(v) else { return false }
            root[keyPath: path] = v
            return true
        }
    }

    /// Any text (e.g. a caption).
    public static func text(_ key: String, _ path: WritableKeyPath<Root, String> & Sendable, _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: "any text", read: { $0[keyPath: path] }) { root, text in
            root[keyPath: path] = text
            return true
        }
    }

    /// A whole number in `range` (odd only, when `odd`).
    public static func whole(_ key: String, _ path: WritableKeyPath<Root, Int> & Sendable, in range: ClosedRange<Int>, odd: Bool = false,
                             _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: "\(odd ? "an odd" : "a") whole number in \(range.lowerBound)…\(range.upperBound)",
              read: { String($0[keyPath: path]) }) { root, text in
            guard let v = Int(text.trimmedSpaces), range.contains(v), !odd || v % 2 != 0 else { return false }
            root[keyPath: path] = v
            return true
        }
    }

    /// A seed: any whole number in 0…2⁶⁴−1.
    public static func seed(_ key: String, _ path: WritableKeyPath<Root, UInt64> & Sendable, _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: "a whole number ≥ 0", read: { String($0[keyPath: path]) }) { root, text in
            guard let v = UInt64(text.trimmedSpaces) else { return false }
            root[keyPath: path] = v
            return true
        }
    }

    /// `true` or `false`.
    public static func flag(_ key: String, _ path: WritableKeyPath<Root, Bool> & Sendable, _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: "true or false", read: { $0[keyPath: path] ? "true" : "false" }) { root, text in
            guard text == "true" || text == "false" else { return false }
            root[keyPath: path] = text == "true"
            return true
        }
    }

    /// One case of a string enum, by raw value.
    public static func choice<Value: RawRepresentable & CaseIterable & Sendable>(
        _ key: String, _ path: WritableKeyPath<Root, Value> & Sendable, _ summary: String
    ) -> Self where Value.RawValue == String {
        .init(key: key, summary: summary, rule: "one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))",
              read: { $0[keyPath: path].rawValue }) { root, text in
            guard let v = Value(rawValue: text) else { return false }
            root[keyPath: path] = v
            return true
        }
    }

    /// A boolean written as one of two words (e.g. `blend: poisson | none`).
    public static func choice(_ key: String, _ path: WritableKeyPath<Root, Bool> & Sendable, true yes: String, false no: String,
                              _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: "one of \(yes), \(no)", read: { $0[keyPath: path] ? yes : no }) { root, text in
            guard text == yes || text == no else { return false }
            root[keyPath: path] = text == yes
            return true
        }
    }

    /// One name of `names` (e.g. an optical flow method).
    public static func name(_ key: String, _ path: WritableKeyPath<Root, String> & Sendable, among names: [String], _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: "one of \(names.joined(separator: ", "))", read: { $0[keyPath: path] }) { root, text in
            guard names.contains(text) else { return false }
            root[keyPath: path] = text
            return true
        }
    }

    /// Comma-separated whole numbers, `count` of them, each accepted by `element` (`rule` says
    /// what is accepted, e.g. "2–5 comma-separated multiples of 8, e.g. 32,64,128").
    public static func wholeList(_ key: String, _ path: WritableKeyPath<Root, [Int]> & Sendable, count: ClosedRange<Int>,
                                 rule: String, element: @escaping @Sendable (Int) -> Bool, _ summary: String) -> Self {
        .init(key: key, summary: summary, rule: rule, read: { $0[keyPath: path].map(String.init).joined(separator: ",") }) { root, text in
            let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmedSpaces) }
            guard count.contains(values.count), values.allSatisfy({ $0.map(element) ?? false }) else { return false }
            root[keyPath: path] = values.map { $0! }
            return true
        }
    }
}

/// The fields of a settings type, named presets (optional: the `preset` key chooses the values
/// every other key then overrides) and a check across fields.
public struct SettingsSchema<Root: SettingsType>: Sendable {
    public let fields: [SettingField<Root>]
    /// Named starting values, in order (the first is the defaults' name, e.g. `quick`).
    public let presets: [(name: String, summary: String, values: @Sendable () -> Root)]
    /// A rule across fields: nil when `Root` is valid, else the key at fault and the reason.
    public let check: (@Sendable (Root) -> (key: String, reason: String)?)?

    public init(_ fields: [SettingField<Root>],
                presets: [(name: String, summary: String, values: @Sendable () -> Root)] = [],
                check: (@Sendable (Root) -> (key: String, reason: String)?)? = nil) {
        precondition(Set(fields.map(\.key)).count == fields.count, "a settings key is declared twice")
        precondition(presets.isEmpty || !fields.contains { $0.key == "preset" }, "'preset' is the presets' key")
        self.fields = fields
        self.presets = presets
        self.check = check
    }

    /// Every key `parse` accepts: the fields' and `preset` when there are presets.
    public var keys: [String] { fields.map(\.key) + (presets.isEmpty ? [] : ["preset"]) }

    /// The settings from strings: defaults (or the named preset) with each given key applied.
    public func parse(_ strings: [String: String]) throws(SettingError) -> Root {
        for key in strings.keys.sorted() where !keys.contains(key) {
            throw .unknownKey(key, known: keys)
        }
        var value = Root()
        if let name = strings["preset"] {
            guard let preset = presets.first(where: { $0.name == name }) else {
                throw .invalidValue(key: "preset", reason: "'\(name)' must be one of \(presets.map(\.name).joined(separator: ", "))")
            }
            value = preset.values()
        }
        for field in fields {
            guard let text = strings[field.key] else { continue }
            guard field.write(&value, text) else {
                throw .invalidValue(key: field.key, reason: "'\(text)' must be \(field.rule)")
            }
        }
        if let check, let fault = check(value) { throw .invalidValue(key: fault.key, reason: fault.reason) }
        return value
    }

    /// Every field's value as text, keyed by the field's key.
    public func dictionary(_ value: Root) -> [String: String] {
        Dictionary(uniqueKeysWithValues: fields.map { ($0.key, $0.read(value)) })
    }

    /// One line per key for help output: key, default, accepted values, description.
    public var help: [SettingHelp] {
        let defaults = Root()
        var lines = fields.map { SettingHelp(key: $0.key, defaultValue: $0.read(defaults), rule: $0.rule, summary: $0.summary) }
        if let first = presets.first {
            lines.append(SettingHelp(key: "preset", defaultValue: first.name, rule: "one of \(presets.map(\.name).joined(separator: ", "))",
                                     summary: "starting values: " + presets.map { "\($0.name) — \($0.summary)" }.joined(separator: "; ")))
        }
        return lines
    }
}

/// A setting as `fym-bench methods` shows it.
public struct SettingHelp: Sendable, Equatable, Codable {
    public var key: String
    public var defaultValue: String
    public var rule: String
    public var summary: String

    public init(key: String, defaultValue: String, rule: String, summary: String) {
        self.key = key
        self.defaultValue = defaultValue
        self.rule = rule
        self.summary = summary
    }
}

/// The settings of a method or tool that has none.
public struct NoSettings: SettingsType, Equatable {
    public init() {}
    public static let schema = SettingsSchema<NoSettings>([])
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    fileprivate var trimmedSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
