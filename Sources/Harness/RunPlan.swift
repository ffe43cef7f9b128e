import Flow
import Foundation
import PortraitData

/// Planning a run: which clips (preparing datasets that are not prepared yet), whether every id
/// the experiment names exists, and the run matrix.
extension Runner {
    /// The clip addresses of the run, in config order.
    public func resolveClips() throws -> [ClipAddress] {
        let manifests = (try? DatasetManifest.loadAll(in: options.manifests)) ?? []
        var out: [ClipAddress] = []
        for entry in config.clips {
            if entry.contains("/") {
                let address = try ClipAddress(parsing: entry)
                let dir = options.dataRoot.clipDirectory(dataset: address.dataset, clip: address.clip)
                if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("clip.json").path) {
                    // Only a clip the manifest names is prepared, and preparing keeps every clip
                    // already prepared (its tracking and avatar); a misspelt clip stops here.
                    let manifest = manifests.first { $0.name == address.dataset }
                    let prepared = options.dataRoot.preparedClips(dataset: address.dataset)
                    guard let manifest, manifest.clipNames.contains(address.clip) else {
                        throw RunError.unknownClip(entry, known: manifest?.clipNames ?? prepared)
                    }
                    guard let prepare = options.prepareDataset else { throw RunError.notPrepared(address.dataset) }
                    options.log("preparing dataset \(address.dataset)")
                    try timings.timed("data", cached: false) { try prepare(manifest) }
                    guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("clip.json").path) else {
                        throw RunError.notPrepared(address.dataset)
                    }
                }
                out.append(address)
            } else if let m = manifests.first(where: { $0.name == entry }) {
                let prepared = options.dataRoot.preparedClips(dataset: entry)
                if !m.clipNames.allSatisfy(prepared.contains) {
                    guard let prepare = options.prepareDataset else { throw RunError.notPrepared(entry) }
                    options.log("preparing dataset \(entry)")
                    try timings.timed("data", cached: false) { try prepare(m) }
                } else {
                    timings.timed("data", cached: true) {}
                }
                out += m.clipNames.map { ClipAddress(dataset: entry, clip: $0) }
            } else {
                let prepared = options.dataRoot.preparedClips(dataset: entry)
                guard !prepared.isEmpty else { throw RunError.unknownDataset(entry, known: manifests.map(\.name)) }
                out += prepared.map { ClipAddress(dataset: entry, clip: $0) }
            }
        }
        return out
    }

    /// Checks ids before any work: metrics, methods, editing tools, the flow method; and that the
    /// results and cache folders can be written (not after every cell was computed).
    public func validate() throws {
        // The results of `name` go to <results>/<name>: after resolving links they must stay there.
        if options.outputDirectory.lastPathComponent == config.name {
            try PathContainment.ensure(options.outputDirectory, inside: options.outputDirectory.deletingLastPathComponent())
        }
        for folder in [options.outputDirectory, options.cacheRoot] { try Runner.checkWritable(folder) }
        for id in config.metrics where !options.metrics.ids.contains(id) {
            throw RunError.unknownMetric(id, known: options.metrics.ids)
        }
        for m in config.methods { _ = try options.catalog.make(m.method, settings: m.settings) }
        for (i, e) in config.edits.enumerated() {
            let tool = try options.editingTool(e.tool)
            do { try tool.validate(requestSettings: e.settings) } catch {
                throw RunError.invalidEditSettings(edit: "edits[\(i)] (\(e.id))", reason: "\(error)")
            }
            do { try tool.validate(prompt: e.prompt) } catch {
                throw RunError.invalidEditPrompt(edit: "edits[\(i)] (\(e.id))", reason: "\(error)")
            }
        }
        _ = try FlowMethods.named(config.flow)
        // A CLIP folder that is given but cannot be loaded stops the run (every cell would fail).
        _ = try models.clip()
    }

    /// One cell of the run matrix: clip × edit × method, numbered in matrix order.
    struct Cell {
        var index: Int
        var clip: ClipAddress
        var edit: EditSpec
        var method: MethodSpec
    }

    /// Every cell of the run: clips × edits × methods, in that nesting order.
    func cells(clips: [ClipAddress]) -> [Cell] {
        var cells: [Cell] = []
        for clip in clips {
            for edit in config.edits {
                for method in config.methods {
                    cells.append(Cell(index: cells.count, clip: clip, edit: edit, method: method))
                }
            }
        }
        return cells
    }

    /// Creates `folder` if needed and checks a file can be written in it.
    static func checkWritable(_ folder: URL) throws {
        let fm = FileManager.default
        let probe = folder.appendingPathComponent(".write-check-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data().write(to: probe)
            try fm.removeItem(at: probe)
        } catch {
            throw RunError.unwritable(path: folder.path, reason: (error as NSError).localizedDescription)
        }
    }
}
