import Foundation

/// Why a Haar cascade file could not be loaded. Every case names the file; the XML cases also
/// name the element (as a slash-separated path such as `cascade/stages/_[3]/stageThreshold`).
public enum HaarCascadeError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not exist (the default cascade comes with Debian's `opencv-data`).
    case fileNotFound(path: String)
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// The text is not well-formed XML (truncated file, mismatched tags, stray text).
    case malformedXML(path: String, line: Int, reason: String)
    /// A required element is absent.
    case missingElement(path: String, element: String)
    /// `stageType` is not BOOST, `featureType` is not HAAR, or the file is an old-format
    /// (`opencv-haar-classifier`) or categorical cascade.
    case unsupportedType(path: String, element: String, value: String)
    /// A number is missing, malformed or of the wrong kind.
    case invalidNumber(path: String, element: String, text: String)
    /// The numbers parse but do not describe a valid cascade (bad node/feature index, a rectangle
    /// outside the window, more than three rectangles, ...).
    case invalidStructure(path: String, element: String, reason: String)
    /// The cascade uses 45°-rotated (Lienhart–Maydt) features, which this reader does not evaluate.
    case tiltedFeaturesNotSupported(path: String, element: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "Haar cascade not found at \(path): install OpenCV's cascades with "
                + "`apt-get install opencv-data` (`make test` installs it)"
        case .unreadable(let path, let reason):
            return "Haar cascade \(path) could not be read: \(reason)"
        case .malformedXML(let path, let line, let reason):
            return "Haar cascade \(path): malformed XML at line \(line): \(reason)"
        case .missingElement(let path, let element):
            return "Haar cascade \(path): missing element <\(element)>"
        case .unsupportedType(let path, let element, let value):
            return "Haar cascade \(path): unsupported \(element) '\(value)' (only BOOST stages with HAAR features in the "
                + "opencv-cascade-classifier format are supported)"
        case .invalidNumber(let path, let element, let text):
            return "Haar cascade \(path): element <\(element)>: \(text)"
        case .invalidStructure(let path, let element, let reason):
            return "Haar cascade \(path): element <\(element)>: \(reason)"
        case .tiltedFeaturesNotSupported(let path, let element):
            return "Haar cascade \(path): element <\(element)> is a tilted (45°) feature; tilted features not supported"
        }
    }
}

/// A boosted cascade of Haar-like features (Viola & Jones, "Rapid Object Detection using a
/// Boosted Cascade of Simple Features", CVPR 2001; extended feature set of Lienhart & Maydt,
/// "An Extended Set of Haar-like Features for Rapid Object Detection", ICIP 2002), read from
/// OpenCV's `opencv-cascade-classifier` XML (the format `opencv_traincascade` writes and
/// `cv::CascadeClassifier` loads; see `modules/objdetect/src/cascadedetect.cpp`).
///
/// Numbers are kept as OpenCV keeps them: thresholds, leaf values and rectangle weights are
/// parsed as `double` and stored as `Float`. ``Stage/threshold`` is the raw `stageThreshold`;
/// the detector compares against `threshold - 1e-5` (OpenCV's `THRESHOLD_EPS`), in `Float`.
public struct HaarCascade: Sendable {
    /// Where Debian's `opencv-data` installs the default frontal-face cascade (24×24 window).
    public static let defaultPath = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

    /// One weighted rectangle of a feature, in window coordinates.
    public struct Rect: Sendable, Equatable {
        public var x: Int, y: Int, width: Int, height: Int
        public var weight: Float
        public init(x: Int, y: Int, width: Int, height: Int, weight: Float) {
            self.x = x; self.y = y; self.width = width; self.height = height; self.weight = weight
        }
    }

    /// A Haar-like feature: the weighted sum of two or three rectangle sums.
    public struct Feature: Sendable, Equatable {
        public var rects: [Rect]
        public init(rects: [Rect]) { self.rects = rects }
    }

    /// An internal node of a weak classifier tree. A child > 0 is a node index in the same tree;
    /// a child ≤ 0 is the leaf `-child`. The left child is taken when `feature < threshold`.
    public struct Node: Sendable, Equatable {
        public var left: Int, right: Int, featureIndex: Int
        public var threshold: Float
        public init(left: Int, right: Int, featureIndex: Int, threshold: Float) {
            self.left = left; self.right = right; self.featureIndex = featureIndex; self.threshold = threshold
        }
    }

    /// A weak classifier: a small regression tree (a stump when it has a single node).
    public struct Tree: Sendable, Equatable {
        public var nodes: [Node]
        public var leaves: [Float]
        public init(nodes: [Node], leaves: [Float]) { self.nodes = nodes; self.leaves = leaves }
    }

    /// A boosted stage: the window passes when the sum of its trees' leaf values reaches the threshold.
    public struct Stage: Sendable, Equatable {
        /// `stageThreshold` as written in the file.
        public var threshold: Float
        public var trees: [Tree]
        public init(threshold: Float, trees: [Tree]) { self.threshold = threshold; self.trees = trees }
    }

    /// Detection window width in pixels (24 for the frontal-face default cascade).
    public let windowWidth: Int
    /// Detection window height in pixels.
    public let windowHeight: Int
    public let stages: [Stage]
    public let features: [Feature]

    /// Builds a cascade from its parts (validated: feature indices, tree links, rectangles).
    public init(windowWidth: Int, windowHeight: Int, stages: [Stage], features: [Feature]) throws(HaarCascadeError) {
        self.windowWidth = windowWidth
        self.windowHeight = windowHeight
        self.stages = stages
        self.features = features
        try validate(name: "<memory>")
    }

    /// Reads the cascade at `path` (by default Debian's frontal-face cascade).
    public init(contentsOf path: String = HaarCascade.defaultPath) throws(HaarCascadeError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: path)
        }
        if isDirectory.boolValue { throw .unreadable(path: path, reason: "is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        try self.init(xmlData: data, name: path)
    }

    /// Parses cascade XML held in memory; `name` is used in error messages.
    public init(xmlData: Data, name: String = "<memory>") throws(HaarCascadeError) {
        let root = try MiniXML.parse([UInt8](xmlData), name: name)
        let reader = CascadeReader(name: name)
        let parsed = try reader.read(root)
        windowWidth = parsed.width
        windowHeight = parsed.height
        stages = parsed.stages
        features = parsed.features
        try validate(name: name)
    }

    /// The default frontal-face cascade (``defaultPath``).
    public static func frontalFaceDefault() throws(HaarCascadeError) -> HaarCascade {
        try HaarCascade(contentsOf: defaultPath)
    }

    /// Largest number of internal nodes in one tree (1 for stump cascades such as the default one).
    public var maxNodesPerTree: Int {
        stages.lazy.flatMap { $0.trees }.map { $0.nodes.count }.max() ?? 0
    }

    private func validate(name: String) throws(HaarCascadeError) {
        guard windowWidth > 2, windowHeight > 2 else {
            throw .invalidStructure(path: name, element: "cascade/width", reason: "window \(windowWidth)x\(windowHeight) is too small")
        }
        for (fi, f) in features.enumerated() {
            let el = "cascade/features/_[\(fi)]/rects"
            guard (1...3).contains(f.rects.count) else {
                throw .invalidStructure(path: name, element: el, reason: "\(f.rects.count) rectangles (1 to 3 expected)")
            }
            for r in f.rects {
                guard r.x >= 0, r.y >= 0, r.width >= 0, r.height >= 0,
                      r.x + r.width <= windowWidth, r.y + r.height <= windowHeight else {
                    throw .invalidStructure(path: name, element: el,
                                            reason: "rectangle (\(r.x), \(r.y), \(r.width), \(r.height)) outside the \(windowWidth)x\(windowHeight) window")
                }
            }
        }
        guard !stages.isEmpty else { throw .missingElement(path: name, element: "cascade/stages/_") }
        for (si, s) in stages.enumerated() {
            guard !s.trees.isEmpty else {
                throw .missingElement(path: name, element: "cascade/stages/_[\(si)]/weakClassifiers/_")
            }
            for (ti, t) in s.trees.enumerated() {
                let el = "cascade/stages/_[\(si)]/weakClassifiers/_[\(ti)]"
                guard !t.nodes.isEmpty, t.leaves.count >= 2 else {
                    throw .invalidStructure(path: name, element: el, reason: "a tree needs at least one node and two leaves")
                }
                for n in t.nodes {
                    guard n.featureIndex >= 0, n.featureIndex < features.count else {
                        throw .invalidStructure(path: name, element: el + "/internalNodes",
                                                reason: "feature index \(n.featureIndex) out of range 0..<\(features.count)")
                    }
                    for child in [n.left, n.right] {
                        if child > 0 {
                            guard child < t.nodes.count else {
                                throw .invalidStructure(path: name, element: el + "/internalNodes",
                                                        reason: "child node \(child) out of range 0..<\(t.nodes.count)")
                            }
                        } else {
                            guard -child < t.leaves.count else {
                                throw .invalidStructure(path: name, element: el + "/leafValues",
                                                        reason: "leaf \(-child) out of range 0..<\(t.leaves.count)")
                            }
                        }
                    }
                }
                // Trees must not loop: children point forward (as traincascade writes them).
                for (ni, n) in t.nodes.enumerated() where (n.left > 0 && n.left <= ni) || (n.right > 0 && n.right <= ni) {
                    throw .invalidStructure(path: name, element: el + "/internalNodes",
                                            reason: "node \(ni) links backwards (cycle)")
                }
            }
        }
    }
}

// MARK: - Reading the cascade from the XML tree

private struct CascadeReader {
    let name: String

    struct Parsed {
        var width: Int, height: Int
        var stages: [HaarCascade.Stage]
        var features: [HaarCascade.Feature]
    }

    func read(_ root: MiniXML.Element) throws(HaarCascadeError) -> Parsed {
        // cv::FileStorage: the document element (opencv_storage) holds the top-level nodes;
        // CascadeClassifier reads the first one.
        guard let cascade = root.children.first else {
            throw .missingElement(path: name, element: root.name + "/cascade")
        }
        let base = cascade.name
        if cascade.attributes["type_id"] == "opencv-haar-classifier" || cascade.child("stageType") == nil
            && cascade.child("stages") != nil && cascade.child("size") != nil {
            throw .unsupportedType(path: name, element: base + "[type_id]",
                                   value: cascade.attributes["type_id"] ?? "old-format haar classifier")
        }
        let stageType = try text(cascade, "stageType", base)
        guard stageType == "BOOST" else { throw .unsupportedType(path: name, element: base + "/stageType", value: stageType) }
        let featureType = try text(cascade, "featureType", base)
        guard featureType == "HAAR" else { throw .unsupportedType(path: name, element: base + "/featureType", value: featureType) }
        let height = try integer(cascade, "height", base)
        let width = try integer(cascade, "width", base)
        guard width > 0, height > 0 else {
            throw .invalidStructure(path: name, element: base + "/width", reason: "window \(width)x\(height) must be positive")
        }
        if let fp = cascade.child("featureParams"), let mc = fp.child("maxCatCount") {
            let cats = try ints(mc, base + "/featureParams/maxCatCount")
            if cats.count != 1 {
                throw .invalidNumber(path: name, element: base + "/featureParams/maxCatCount", text: "expected one integer")
            }
            if cats[0] > 0 {
                throw .unsupportedType(path: name, element: base + "/featureParams/maxCatCount",
                                       value: "\(cats[0]) (categorical splits)")
            }
        }

        guard let stagesEl = cascade.child("stages") else { throw .missingElement(path: name, element: base + "/stages") }
        var stages = [HaarCascade.Stage]()
        stages.reserveCapacity(stagesEl.children.count)
        for (si, st) in stagesEl.children.enumerated() {
            let sp = base + "/stages/_[\(si)]"
            let thr = try floats(try required(st, "stageThreshold", sp), sp + "/stageThreshold")
            guard thr.count == 1 else {
                throw .invalidNumber(path: name, element: sp + "/stageThreshold", text: "expected one number, found \(thr.count)")
            }
            let weak = try required(st, "weakClassifiers", sp)
            var trees = [HaarCascade.Tree]()
            trees.reserveCapacity(weak.children.count)
            for (wi, w) in weak.children.enumerated() {
                let wp = sp + "/weakClassifiers/_[\(wi)]"
                let nodeText = tokens(try required(w, "internalNodes", wp))
                let leafValues = try floats(try required(w, "leafValues", wp), wp + "/leafValues")
                guard !nodeText.isEmpty, nodeText.count % 4 == 0 else {
                    throw .invalidNumber(path: name, element: wp + "/internalNodes",
                                         text: "\(nodeText.count) numbers; expected groups of 4 (left right featureIdx threshold)")
                }
                var nodes = [HaarCascade.Node]()
                for k in stride(from: 0, to: nodeText.count, by: 4) {
                    let el = wp + "/internalNodes"
                    let l = try intToken(nodeText[k], el)
                    let r = try intToken(nodeText[k + 1], el)
                    let f = try intToken(nodeText[k + 2], el)
                    let t = try floatToken(nodeText[k + 3], el)
                    nodes.append(HaarCascade.Node(left: l, right: r, featureIndex: f, threshold: t))
                }
                trees.append(HaarCascade.Tree(nodes: nodes, leaves: leafValues))
            }
            stages.append(HaarCascade.Stage(threshold: thr[0], trees: trees))
        }

        guard let featuresEl = cascade.child("features") else { throw .missingElement(path: name, element: base + "/features") }
        var features = [HaarCascade.Feature]()
        features.reserveCapacity(featuresEl.children.count)
        for (fi, fe) in featuresEl.children.enumerated() {
            let fp = base + "/features/_[\(fi)]"
            if let tiltedEl = fe.child("tilted") {
                let v = try ints(tiltedEl, fp + "/tilted")
                if v.first.map({ $0 != 0 }) ?? false {
                    throw .tiltedFeaturesNotSupported(path: name, element: fp)
                }
            }
            let rectsEl = try required(fe, "rects", fp)
            var rects = [HaarCascade.Rect]()
            for (ri, re) in rectsEl.children.enumerated() {
                let rp = fp + "/rects/_[\(ri)]"
                let t = tokens(re)
                guard t.count == 5 else {
                    throw .invalidNumber(path: name, element: rp, text: "\(t.count) numbers; expected 5 (x y width height weight)")
                }
                rects.append(HaarCascade.Rect(x: try intToken(t[0], rp), y: try intToken(t[1], rp),
                                              width: try intToken(t[2], rp), height: try intToken(t[3], rp),
                                              weight: try floatToken(t[4], rp)))
            }
            features.append(HaarCascade.Feature(rects: rects))
        }
        return Parsed(width: width, height: height, stages: stages, features: features)
    }

    private func required(_ e: MiniXML.Element, _ child: String, _ path: String) throws(HaarCascadeError) -> MiniXML.Element {
        guard let c = e.child(child) else { throw .missingElement(path: name, element: path + "/" + child) }
        return c
    }

    private func text(_ e: MiniXML.Element, _ child: String, _ path: String) throws(HaarCascadeError) -> String {
        try required(e, child, path).text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func integer(_ e: MiniXML.Element, _ child: String, _ path: String) throws(HaarCascadeError) -> Int {
        let v = try ints(try required(e, child, path), path + "/" + child)
        guard v.count == 1 else { throw .invalidNumber(path: name, element: path + "/" + child, text: "expected one integer") }
        return v[0]
    }

    private func tokens(_ e: MiniXML.Element) -> [Substring] {
        e.text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
    }

    private func ints(_ e: MiniXML.Element, _ path: String) throws(HaarCascadeError) -> [Int] {
        var out = [Int]()
        for t in tokens(e) { out.append(try intToken(t, path)) }
        return out
    }

    private func floats(_ e: MiniXML.Element, _ path: String) throws(HaarCascadeError) -> [Float] {
        let t = tokens(e)
        if t.isEmpty { throw .invalidNumber(path: name, element: path, text: "missing number") }
        var out = [Float]()
        out.reserveCapacity(t.count)
        for s in t { out.append(try floatToken(s, path)) }
        return out
    }

    private func intToken(_ s: Substring, _ path: String) throws(HaarCascadeError) -> Int {
        if let v = Int(s) { return v }
        // OpenCV's reader accepts integral reals such as "3." where an int is expected.
        if let d = Double(s), d.isFinite, d == d.rounded(), abs(d) < 1e9 { return Int(d) }
        throw .invalidNumber(path: name, element: path, text: "'\(s)' is not an integer")
    }

    /// Parses as `double` (strtod, correctly rounded) then narrows to `Float`, as
    /// `(float)FileNode` does; parsing straight to `Float` could differ by double rounding.
    private func floatToken(_ s: Substring, _ path: String) throws(HaarCascadeError) -> Float {
        guard let d = Double(s), d.isFinite else {
            throw .invalidNumber(path: name, element: path, text: "'\(s)' is not a number")
        }
        return Float(d)
    }
}

// MARK: - A minimal XML reader

/// Just enough XML for OpenCV's FileStorage files: elements, attributes, character data,
/// comments, processing instructions, DOCTYPE, CDATA and the predefined/numeric entities.
private enum MiniXML {
    final class Element {
        let name: String
        var attributes: [String: String] = [:]
        var children: [Element] = []
        var text: String = ""
        init(name: String) { self.name = name }

        func child(_ n: String) -> Element? { children.first { $0.name == n } }
    }

    static func parse(_ bytes: [UInt8], name: String) throws(HaarCascadeError) -> Element {
        var p = Parser(bytes: bytes, name: name)
        return try p.parseDocument()
    }

    private struct Parser {
        let bytes: [UInt8]
        let name: String
        var i = 0

        init(bytes: [UInt8], name: String) {
            self.bytes = bytes
            self.name = name
        }

        func line(at offset: Int) -> Int {
            var n = 1
            for k in 0..<min(offset, bytes.count) where bytes[k] == 10 { n += 1 }
            return n
        }

        func fail(_ reason: String, at offset: Int? = nil) -> HaarCascadeError {
            .malformedXML(path: name, line: line(at: offset ?? i), reason: reason)
        }

        func starts(with s: String, at k: Int) -> Bool {
            let u = Array(s.utf8)
            if k + u.count > bytes.count { return false }
            for j in 0..<u.count where bytes[k + j] != u[j] { return false }
            return true
        }

        mutating func skip(past terminator: String, what: String) throws(HaarCascadeError) {
            let start = i
            let u = Array(terminator.utf8)
            while i + u.count <= bytes.count {
                if bytes[i] == u[0] && starts(with: terminator, at: i) { i += u.count; return }
                i += 1
            }
            throw fail("unexpected end of file in \(what) (not closed)", at: start)
        }

        static func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }
        static func isNameByte(_ b: UInt8) -> Bool {
            (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57)
                || b == 95 || b == 45 || b == 46 || b == 58 || b >= 128
        }

        mutating func skipSpaces() { while i < bytes.count && Parser.isSpace(bytes[i]) { i += 1 } }

        mutating func readName() throws(HaarCascadeError) -> String {
            let start = i
            while i < bytes.count && Parser.isNameByte(bytes[i]) { i += 1 }
            if i == start { throw fail(i >= bytes.count ? "unexpected end of file (not closed)" : "expected a name") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        func decodeEntities(_ raw: ArraySlice<UInt8>, at offset: Int) throws(HaarCascadeError) -> String {
            if !raw.contains(38) { return String(decoding: raw, as: UTF8.self) }
            var out = [UInt8]()
            out.reserveCapacity(raw.count)
            var k = raw.startIndex
            while k < raw.endIndex {
                let b = raw[k]
                if b != 38 { out.append(b); k += 1; continue }
                guard let semi = raw[k...].firstIndex(of: 59), semi - k <= 12 else {
                    throw fail("unterminated entity reference (not closed by ';')", at: offset)
                }
                let ent = String(decoding: raw[(k + 1)..<semi], as: UTF8.self)
                var scalar: UInt32?
                switch ent {
                case "lt": scalar = 60
                case "gt": scalar = 62
                case "amp": scalar = 38
                case "quot": scalar = 34
                case "apos": scalar = 39
                default:
                    if ent.hasPrefix("#x") || ent.hasPrefix("#X") { scalar = UInt32(ent.dropFirst(2), radix: 16) }
                    else if ent.hasPrefix("#") { scalar = UInt32(ent.dropFirst(1)) }
                }
                guard let sv = scalar, let us = Unicode.Scalar(sv) else {
                    throw fail("unknown entity &\(ent);", at: offset)
                }
                out.append(contentsOf: Array(String(Character(us)).utf8))
                k = semi + 1
            }
            return String(decoding: out, as: UTF8.self)
        }

        mutating func parseDocument() throws(HaarCascadeError) -> Element {
            if starts(with: "\u{FEFF}", at: 0) { i = 3 }
            var stack = [Element]()
            var root: Element?
            while i < bytes.count {
                if bytes[i] != 60 {  // character data
                    let start = i
                    while i < bytes.count && bytes[i] != 60 { i += 1 }
                    if let top = stack.last {
                        top.text += try decodeEntities(bytes[start..<i], at: start)
                    } else if bytes[start..<i].contains(where: { !Parser.isSpace($0) }) {
                        throw fail(root == nil ? "text before the root element" : "text after the root element", at: start)
                    }
                    continue
                }
                if starts(with: "<?", at: i) { try skip(past: "?>", what: "processing instruction"); continue }
                if starts(with: "<!--", at: i) { try skip(past: "-->", what: "comment"); continue }
                if starts(with: "<![CDATA[", at: i) {
                    let start = i + 9
                    i = start
                    try skip(past: "]]>", what: "CDATA section")
                    guard let top = stack.last else { throw fail("CDATA outside the root element", at: start) }
                    top.text += String(decoding: bytes[start..<(i - 3)], as: UTF8.self)
                    continue
                }
                if starts(with: "<!", at: i) { try skip(past: ">", what: "declaration"); continue }
                if starts(with: "</", at: i) {
                    let at = i
                    i += 2
                    let n = try readName()
                    skipSpaces()
                    guard i < bytes.count, bytes[i] == 62 else { throw fail(i >= bytes.count ? "unexpected end of file inside a tag (not closed)" : "expected '>' after </\(n)", at: at) }
                    i += 1
                    guard let top = stack.popLast() else { throw fail("closing tag </\(n)> without an open element", at: at) }
                    guard top.name == n else { throw fail("closing tag </\(n)> does not match <\(top.name)>", at: at) }
                    if stack.isEmpty { root = top }
                    continue
                }
                // Start tag.
                let at = i
                i += 1
                let n = try readName()
                if root != nil && stack.isEmpty { throw fail("second root element <\(n)>", at: at) }
                let el = Element(name: n)
                var selfClosing = false
                while true {
                    skipSpaces()
                    guard i < bytes.count else { throw fail("unexpected end of file inside tag <\(n)> (not closed)", at: at) }
                    if bytes[i] == 62 { i += 1; break }
                    if bytes[i] == 47 {
                        guard i + 1 < bytes.count, bytes[i + 1] == 62 else { throw fail(i >= bytes.count ? "unexpected end of file inside a tag (not closed)" : "expected '/>' in tag <\(n)>", at: at) }
                        i += 2
                        selfClosing = true
                        break
                    }
                    let an = try readName()
                    skipSpaces()
                    guard i < bytes.count, bytes[i] == 61 else { throw fail(i >= bytes.count ? "unexpected end of file inside a tag (not closed)" : "expected '=' after attribute \(an) in <\(n)>", at: at) }
                    i += 1
                    skipSpaces()
                    guard i < bytes.count, bytes[i] == 34 || bytes[i] == 39 else {
                        throw fail(i >= bytes.count ? "unexpected end of file inside a tag (not closed)" : "expected a quoted value for attribute \(an) in <\(n)>", at: at)
                    }
                    let q = bytes[i]
                    i += 1
                    let vs = i
                    while i < bytes.count && bytes[i] != q { i += 1 }
                    guard i < bytes.count else { throw fail("unexpected end of file in an attribute value of <\(n)> (not closed)", at: at) }
                    el.attributes[an] = try decodeEntities(bytes[vs..<i], at: vs)
                    i += 1
                }
                if let top = stack.last { top.children.append(el) }
                if selfClosing {
                    if stack.isEmpty { root = el }
                } else {
                    stack.append(el)
                }
            }
            if let open = stack.last {
                throw fail("unexpected end of file: <\(open.name)> is not closed (truncated file?)", at: bytes.count)
            }
            guard let r = root else { throw fail("no root element", at: 0) }
            return r
        }
    }
}
