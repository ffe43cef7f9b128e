import TypedSettings
import XCTest

/// A settings type with one field of every kind, declared once.
private struct Example: SettingsType, Equatable {
    enum Mode: String, CaseIterable, Sendable { case fast, careful }
    var rate: Float = 0.5
    var steps = 10
    var patch = 5
    var seed: UInt64 = 7
    var on = true
    var mode: Mode = .fast
    var blend = true
    var flow = "dis-medium"
    var channels = [16, 32]
    var ratio = 0.25
    var caption = "a portrait"
    init() {}
    static let schema = SettingsSchema<Example>([
        .number("rate", \.rate, in: .openClosed(0, 1), "a rate"),
        .whole("steps", \.steps, in: 1...100, "steps"),
        .whole("patch", \.patch, in: 1...15, odd: true, "patch side"),
        .seed("seed", \.seed, "a seed"),
        .flag("on", \.on, "a switch"),
        .choice("mode", \.mode, "a mode"),
        .choice("blend", \.blend, true: "poisson", false: "none", "blending"),
        .name("flow", \.flow, among: ["dis-fast", "dis-medium"], "a flow"),
        .wholeList("channels", \.channels, count: 2...3, rule: "2–3 multiples of 8", element: { $0 % 8 == 0 && $0 > 0 }, "channels"),
        .number("ratio", \.ratio, in: .closed(0, 1), "a Double ratio"),
        .text("caption", \.caption, "any caption"),
    ], presets: [("small", "the defaults", { Example() }), ("large", "more steps", { var e = Example(); e.steps = 90; return e })],
       check: { $0.steps >= $0.patch ? nil : ("steps", "must be at least the patch") })
}

/// The schema derives parsing, validation, the string dictionary and the help from one declaration.
final class SettingsSchemaTests: XCTestCase {
    func testDefaultsAndDictionaryRoundTrip() throws {
        let defaults = Example()
        XCTAssertEqual(try Example(parsing: [:]), defaults)
        XCTAssertEqual(defaults.dictionary, ["rate": "0.5", "steps": "10", "patch": "5", "seed": "7", "on": "true", "mode": "fast",
                                             "blend": "poisson", "flow": "dis-medium", "channels": "16,32",
                                             "ratio": "0.25", "caption": "a portrait"])
        let given = ["rate": "0.25", "steps": "20", "patch": "3", "seed": "18446744073709551615", "on": "false", "mode": "careful",
                     "blend": "none", "flow": "dis-fast", "channels": "8,24,64", "ratio": "0.1", "caption": "a bronze statue, 3/4 view"]
        let parsed = try Example(parsing: given)
        XCTAssertEqual(parsed.dictionary, given, "every value written back is the value read")
        XCTAssertEqual(parsed.seed, UInt64.max)
        XCTAssertEqual(parsed.channels, [8, 24, 64])
        XCTAssertEqual(parsed.ratio, 0.1, "Double settings keep Double precision")
        XCTAssertEqual(try Example(parsing: parsed.dictionary), parsed)
    }

    func testInvalidValuesNameTheKeyAndWhatIsAccepted() {
        let bad: [(String, String, String)] = [
            ("rate", "0", "(0, 1]"), ("rate", "nan", "(0, 1]"), ("rate", "1.5", "(0, 1]"), ("steps", "0", "1…100"),
            ("steps", "2.5", "1…100"), ("patch", "4", "odd"), ("seed", "-1", "≥ 0"), ("on", "yes", "true or false"),
            ("mode", "slow", "fast, careful"), ("blend", "true", "poisson, none"), ("flow", "tvl1", "dis-fast, dis-medium"),
            ("channels", "16", "2–3"), ("channels", "16,30", "2–3"), ("preset", "huge", "small, large"), ("ratio", "1.01", "0…1"),
        ]
        for (key, value, hint) in bad {
            XCTAssertThrowsError(try Example(parsing: [key: value]), "\(key)=\(value)") { error in
                guard case let SettingError.invalidValue(k, reason) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(k, key)
                XCTAssertTrue(reason.contains("'\(value)'") && reason.contains(hint), reason)
            }
        }
        XCTAssertThrowsError(try Example(parsing: ["rates": "1"])) { error in
            XCTAssertEqual(error as? SettingError, .unknownKey("rates", known: Example.schema.keys))
        }
        XCTAssertThrowsError(try Example(parsing: ["steps": "2"]), "the cross-field check runs") { error in
            XCTAssertEqual(error as? SettingError, .invalidValue(key: "steps", reason: "must be at least the patch"))
        }
    }

    func testPresetsChooseStartingValuesThatKeysOverride() throws {
        XCTAssertEqual(try Example(parsing: ["preset": "large"]).steps, 90)
        XCTAssertEqual(try Example(parsing: ["preset": "large", "steps": "30"]).steps, 30)
        XCTAssertEqual(try Example(parsing: ["preset": "small"]), Example())
        XCTAssertEqual(Example.schema.keys.last, "preset")
        XCTAssertNil(Example().dictionary["preset"], "the dictionary holds values, not how they were chosen")
    }

    func testHelpListsEveryKeyWithItsDefault() {
        let help = Example.schema.help
        XCTAssertEqual(help.map(\.key), Example.schema.keys)
        XCTAssertEqual(help.first { $0.key == "rate" }, SettingHelp(key: "rate", defaultValue: "0.5", rule: "a number in (0, 1]", summary: "a rate"))
        XCTAssertEqual(help.first { $0.key == "preset" }?.defaultValue, "small")
        XCTAssertEqual(NumberInterval.atLeast(0).text, "≥ 0")
        XCTAssertEqual(NumberInterval.closed(0, 0.9999).text, "0…0.9999")
        XCTAssertTrue(NumberInterval.open(0, 1).contains(0.5) && !NumberInterval.open(0, 1).contains(1) && !NumberInterval.above(0).contains(.infinity))
    }
}
