import Foundation
import Yams

/// Errors in the suite's YAML files (dataset manifests, experiments); each names the file and the
/// key path and says what is wrong. `document` says which kind of file it is ("manifest",
/// "experiment").
public enum ConfigFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(document: String, path: String, reason: String)
    case notYAML(document: String, path: String, reason: String)
    case missingKey(document: String, path: String, key: String)
    case wrongType(document: String, path: String, key: String, expected: String)
    case invalidValue(document: String, path: String, key: String, reason: String)
    case unknownKey(document: String, path: String, key: String, known: [String])

    public var description: String {
        switch self {
        case let .unreadable(document, path, reason): return "cannot read \(document) \(path): \(reason)"
        case let .notYAML(document, path, reason): return "\(document) \(path) is not valid YAML: \(reason)"
        case let .missingKey(document, path, key): return "\(document) \(path): missing key '\(key)'"
        case let .wrongType(document, path, key, expected): return "\(document) \(path): key '\(key)' must be \(expected)"
        case let .invalidValue(document, path, key, reason): return "\(document) \(path): key '\(key)' \(reason)"
        case let .unknownKey(document, path, key, known):
            return "\(document) \(path): unknown key '\(key)' (allowed here: \(known.joined(separator: ", ")))"
        }
    }
}

/// Typed access to one YAML mapping, with errors naming the file and the full key path
/// (`edits[0].seed`, `pypi.wheel_sha256`). Shared by dataset manifests and experiments.
public struct ConfigReader {
    public let document: String
    public let path: String
    public let prefix: String
    public let dict: [String: Any]

    public init(document: String, path: String, prefix: String = "", dict: [String: Any]) {
        self.document = document
        self.path = path
        self.prefix = prefix
        self.dict = dict
    }

    /// The YAML resolver of the suite's files: Yams' default with YAML 1.2's booleans
    /// (`true`/`false` only). Under YAML 1.1's rule an unquoted `off`, `on`, `yes` or `no` becomes
    /// a boolean, so a setting such as FYM's `dra: off` would arrive as "false".
    static func resolver() -> Resolver {
        guard let r = try? Resolver.default.replacing(.bool, with: "^(?:true|True|TRUE|false|False|FALSE)$") else {
            preconditionFailure("the YAML 1.2 boolean pattern is a valid regular expression")
        }
        return r
    }

    /// Reads and parses a YAML file whose top level must be a mapping.
    public static func load(document: String, url: URL) throws -> ConfigReader {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ConfigFileError.unreadable(document: document, path: url.path, reason: error.localizedDescription)
        }
        // Bounded before and after parsing: the suite's files are small and shallow, so a file that
        // nests deeper than `maximumDepth` or expands (through aliases) to more than
        // `maximumNodes` values is refused instead of overflowing the stack or the memory.
        guard text.utf8.count <= maximumBytes else {
            throw ConfigFileError.notYAML(document: document, path: url.path, reason: "the file has \(text.utf8.count) bytes; at most \(maximumBytes) are read")
        }
        if let line = tooDeep(text) {
            throw ConfigFileError.notYAML(document: document, path: url.path, reason: "line \(line) nests deeper than \(maximumDepth) levels")
        }
        let root: Any?
        do {
            let node = try Yams.compose(yaml: text, resolver())
            if let node {
                var budget = maximumNodes
                guard countNodes(node, depth: 0, budget: &budget) else {
                    throw ConfigFileError.notYAML(document: document, path: url.path,
                                                  reason: "it expands to more than \(maximumNodes) values or \(maximumDepth) levels (an alias bomb?)")
                }
            }
            root = node?.any
        } catch let error as ConfigFileError { throw error } catch {
            throw ConfigFileError.notYAML(document: document, path: url.path, reason: "\(error)")
        }
        guard let dict = root as? [String: Any] else {
            throw ConfigFileError.wrongType(document: document, path: url.path, key: "(top level)", expected: "a mapping")
        }
        return ConfigReader(document: document, path: url.path, dict: dict)
    }

    /// Limits of a readable config file: bytes, nesting levels, values after expanding aliases.
    static let maximumBytes = 4_000_000
    static let maximumDepth = 64
    static let maximumNodes = 200_000

    /// The first line (1-based) whose block indentation, sequence dashes or open flow brackets
    /// reach past ``maximumDepth`` levels (a level is at least one character), or nil. A cheap
    /// text scan, run before the recursive YAML composer sees the file.
    static func tooDeep(_ text: String) -> Int? {
        var flow = 0, line = 1, lineStart = true, prefix = 0, quote: Character? = nil, previous: Character = " "
        for c in text {
            defer { previous = c }
            if c == "\n" { line += 1; lineStart = true; prefix = 0; if quote == "'" { quote = nil }; continue }
            if lineStart {
                if c == " " || c == "-" || c == "\t" { prefix += 1; if prefix > 4 * maximumDepth { return line }; continue }
                lineStart = false
            }
            if let q = quote { if c == q { quote = nil }; continue }
            switch c {
            // A quote opens a quoted scalar only where a token starts (not the apostrophe of "don't").
            case "\"" where " :,[{-\t".contains(previous), "'" where " :,[{-\t".contains(previous): quote = c
            case "[", "{": flow += 1; if flow > maximumDepth { return line }
            case "]", "}": flow = max(0, flow - 1)
            default: break
            }
        }
        return nil
    }

    /// Counts the values of `node` (an alias counts as many times as it is used) into `budget`;
    /// false once it is spent or the nesting passes ``maximumDepth``.
    static func countNodes(_ node: Node, depth: Int, budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0, depth <= maximumDepth else { return false }
        switch node {
        case .scalar: return true
        case .mapping(let m):
            for (k, v) in m { guard countNodes(k, depth: depth + 1, budget: &budget), countNodes(v, depth: depth + 1, budget: &budget) else { return false } }
        case .sequence(let s):
            for n in s { guard countNodes(n, depth: depth + 1, budget: &budget) else { return false } }
        }
        return true
    }

    public func full(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    public func missing(_ key: String) -> ConfigFileError { .missingKey(document: document, path: path, key: full(key)) }
    public func wrongType(_ key: String, _ expected: String) -> ConfigFileError {
        .wrongType(document: document, path: path, key: full(key), expected: expected)
    }
    public func invalid(_ key: String, _ reason: String) -> ConfigFileError {
        .invalidValue(document: document, path: path, key: full(key), reason: reason)
    }

    /// Rejects keys outside `known` (catches typos).
    public func onlyKeys(_ known: [String]) throws {
        for key in dict.keys.sorted() where !known.contains(key) {
            throw ConfigFileError.unknownKey(document: document, path: path, key: full(key), known: known)
        }
    }

    public func string(_ key: String) throws -> String {
        guard let v = dict[key] else { throw missing(key) }
        if let s = v as? String, !s.isEmpty { return s }
        if let n = v as? Int { return String(n) }
        if let d = v as? Double { return String(d) }
        throw wrongType(key, "a non-empty string")
    }

    public func optionalString(_ key: String) throws -> String? { dict[key] == nil ? nil : try string(key) }

    public func int(_ key: String, range: ClosedRange<Int>) throws -> Int {
        guard let n = try optionalInt(key, range: range) else { throw missing(key) }
        return n
    }

    public func int(_ key: String, default value: Int, range: ClosedRange<Int> = 0...Int.max) throws -> Int {
        try optionalInt(key, range: range) ?? value
    }

    public func optionalInt(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let v = dict[key] else { return nil }
        guard let n = v as? Int else { throw wrongType(key, "an integer") }
        guard range.contains(n) else { throw invalid(key, "must lie in \(range.lowerBound)…\(range.upperBound), not \(n)") }
        return n
    }

    public func optionalDouble(_ key: String, range: ClosedRange<Double>) throws -> Double? {
        guard let v = dict[key] else { return nil }
        let d: Double
        if let x = v as? Double { d = x } else if let n = v as? Int { d = Double(n) } else { throw wrongType(key, "a number") }
        guard range.contains(d) else { throw invalid(key, "must lie in \(range.lowerBound)…\(range.upperBound)") }
        return d
    }

    public func sha256(_ key: String) throws -> String {
        let s = try string(key).lowercased()
        guard s.count == 64, s.allSatisfy({ $0.isHexDigit }) else { throw invalid(key, "must be 64 hexadecimal digits (a SHA-256)") }
        return s
    }

    public func list(_ key: String) throws -> [Any] {
        guard let v = dict[key] else { throw missing(key) }
        guard let l = v as? [Any] else { throw wrongType(key, "a list") }
        return l
    }

    public func stringList(_ key: String) throws -> [String] {
        try list(key).enumerated().map { i, item in
            if let s = item as? String, !s.isEmpty { return s }
            throw ConfigFileError.wrongType(document: document, path: path, key: "\(full(key))[\(i)]", expected: "a string")
        }
    }

    /// The mapping at `key` (restricted to `known` keys when given).
    public func mapping(_ key: String, known: [String]? = nil) throws -> ConfigReader {
        guard let v = dict[key] else { throw missing(key) }
        guard let d = v as? [String: Any] else { throw wrongType(key, "a mapping") }
        let reader = ConfigReader(document: document, path: path, prefix: full(key), dict: d)
        if let known { try reader.onlyKeys(known) }
        return reader
    }

    /// A mapping of scalar settings (strings, numbers, booleans) as strings; empty when absent.
    public func settings(_ key: String) throws -> [String: String] {
        guard let v = dict[key] else { return [:] }
        guard let d = v as? [String: Any] else { throw wrongType(key, "a mapping") }
        var out: [String: String] = [:]
        for (k, value) in d {
            switch value {
            case let s as String: out[k] = s
            case let b as Bool: out[k] = b ? "true" : "false"
            case let n as Int: out[k] = String(n)
            case let x as Double: out[k] = String(x)
            default: throw ConfigFileError.wrongType(document: document, path: path, key: "\(full(key)).\(k)", expected: "a string, number or boolean")
            }
        }
        return out
    }
}
