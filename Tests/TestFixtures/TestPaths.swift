import Foundation

/// Where tests find the repository and the shared fixtures (`../shared/fixtures` beside the
/// repository: real photos and frames with the real libraries' outputs; never edited). The one
/// place that derives paths from the source tree; `FYM_SHARED` overrides the shared folder.
public enum TestPaths {
    /// The repository root (the folder holding Package.swift).
    public static let repository: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shared folder: `$FYM_SHARED`, else `shared/` beside the repository.
    public static let shared: URL = {
        if let path = ProcessInfo.processInfo.environment["FYM_SHARED"], !path.isEmpty { return URL(fileURLWithPath: path) }
        return repository.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// `shared/fixtures`.
    public static var fixtures: URL { shared.appendingPathComponent("fixtures") }

    /// A path inside `shared/fixtures`, e.g. `fixture("faces/reference.json")`.
    public static func fixture(_ relative: String) -> URL { fixtures.appendingPathComponent(relative) }

    /// A path inside the repository, e.g. `inRepository("Datasets/synthetic-quick.yaml")`.
    public static func inRepository(_ relative: String) -> URL { repository.appendingPathComponent(relative) }
}
