// dlib's 68-point facial landmark predictor: an ensemble of regression trees (Kazemi & Sullivan,
// "One Millisecond Face Alignment with an Ensemble of Regression Trees", CVPR 2014), as
// implemented by dlib's `shape_predictor` (dlib/image_processing/shape_predictor.h) and shipped as
// `shape_predictor_68_face_landmarks.dat` (Debian libdlib-data). File format and inference:
// FORMATS.md §1.

import Foundation
import Imaging

/// Why a landmark model could not be loaded.
public enum ShapePredictorError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file at `path`.
    case modelNotFound(path: String)
    /// The file exists but could not be read (a directory, no permission, …).
    case unreadable(path: String, reason: String)
    /// The bytes are not a valid dlib `shape_predictor` (truncated, foreign or inconsistent).
    case format(DlibFormatError)

    public var description: String {
        switch self {
        case .modelNotFound(let path):
            return "dlib landmark model not found at '\(path)'; install it with "
                + "`apt-get install libdlib-data` (it provides \(ShapePredictor.defaultModelPath))"
        case .unreadable(let path, let reason):
            return "cannot read dlib landmark model '\(path)': \(reason)"
        case .format(let e):
            return "invalid dlib shape_predictor model: \(e)"
        }
    }
}

/// dlib's facial landmark predictor: a cascade of gradient-boosted regression-tree forests over
/// pixel-intensity differences (Kazemi & Sullivan, CVPR 2014; Davis King's dlib
/// `shape_predictor`), loaded from a dlib-serialized model such as
/// `shape_predictor_68_face_landmarks.dat` (15 cascades × 500 depth-4 trees, 68 landmarks).
///
/// Inference reproduces dlib's arithmetic: shapes are `Float` in the unit square of the face box;
/// per cascade the similarity transform from the mean shape to the current shape is computed in
/// `Double` (Umeyama) and cast to `Float`; feature pixels are located in `Float`, mapped to the
/// image in `Double` and rounded with `floor(v + 0.5)` (0 outside the image); the leaf vectors are
/// added tree by tree in `Float`; landmarks are mapped to the image and rounded like dlib's
/// `point`. Thread-safe: the model is immutable and each call uses its own scratch buffers.
///
/// Model storage is flat: the splits of all trees as parallel arrays (`idx1`, `idx2`, `thresh`),
/// all leaf vectors contiguous.
public final class ShapePredictor: Sendable {
    /// Where Debian's `libdlib-data` installs the 68-landmark model.
    public static let defaultModelPath = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

    /// The file the model was loaded from (or the name given to ``init(serialized:name:)``).
    public let path: String
    /// Number of landmarks predicted (68 for the iBUG 300-W model).
    public let landmarkCount: Int
    /// Number of cascade levels (15 for the shipped model).
    public let cascadeCount: Int
    /// Depth of every tree (4 for the shipped model: 15 splits, 16 leaves).
    public let treeDepth: Int
    /// The mean shape `x0, y0, x1, y1, …` in the unit square of the face box.
    public let initialShape: [Float]

    let splitsPerTree: Int
    /// Tree range of cascade `c`: `treeStart[c]..<treeStart[c + 1]`.
    let treeStart: [Int]
    /// Feature-pixel range of cascade `c`: `featureStart[c]..<featureStart[c + 1]`.
    let featureStart: [Int]
    /// Split `s` of tree `t` is at `t * splitsPerTree + s`; feature indices are relative to the
    /// tree's cascade.
    let splitIdx1: [Int32]
    let splitIdx2: [Int32]
    let splitThresh: [Float]
    /// Leaf `l` of tree `t` starts at `(t * (splitsPerTree + 1) + l) * 2 * landmarkCount`.
    let leafValues: [Float]
    /// Per feature pixel: anchor landmark and (dx, dy) offset in the mean-shape frame.
    let anchors: [Int32]
    let deltas: [Float]
    /// The mean shape minus its centroid, in Double (the Umeyama source, fixed for all cascades).
    let centeredInitialShape: [Double]
    /// Mean squared distance of the mean shape's points from their centroid.
    let initialShapeVariance: Double
    let maxFeatureCount: Int

    /// Total number of regression trees.
    public var treeCount: Int { treeStart[cascadeCount] }
    /// Number of feature pixels sampled at cascade `c`.
    public func featurePixelCount(cascade c: Int) -> Int { featureStart[c + 1] - featureStart[c] }

    /// Loads the model at ``defaultModelPath``.
    public convenience init() throws(ShapePredictorError) {
        try self.init(contentsOf: ShapePredictor.defaultModelPath)
    }

    /// Loads a dlib-serialized `shape_predictor` from `path`. A missing file throws
    /// ``ShapePredictorError/modelNotFound(path:)`` (whose message says to
    /// `apt-get install libdlib-data`); malformed bytes throw ``ShapePredictorError/format(_:)``.
    public convenience init(contentsOf path: String) throws(ShapePredictorError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .modelNotFound(path: path)
        }
        if isDirectory.boolValue { throw .unreadable(path: path, reason: "it is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw .unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        try self.init(serialized: data, name: path)
    }

    /// Parses a dlib-serialized `shape_predictor` held in memory; `name` is used in errors.
    public init<C: ContiguousBytes>(serialized bytes: C, name: String) throws(ShapePredictorError) {
        let m: DlibShapePredictorContents
        do {
            m = try DlibDeserializer.withReader(bytes, path: name) { (r) throws(DlibFormatError) in
                try DlibShapePredictorContents(&r)
            }
        } catch {
            throw .format(error)
        }
        path = name
        landmarkCount = m.landmarkCount
        cascadeCount = m.treeStart.count - 1
        splitsPerTree = m.splitsPerTree
        treeDepth = (m.splitsPerTree + 1).trailingZeroBitCount
        initialShape = m.initialShape
        treeStart = m.treeStart
        featureStart = m.featureStart
        splitIdx1 = m.splitIdx1
        splitIdx2 = m.splitIdx2
        splitThresh = m.splitThresh
        leafValues = m.leafValues
        anchors = m.anchors
        deltas = m.deltas
        var maxF = 0
        for c in 0..<(m.featureStart.count - 1) { maxF = max(maxF, m.featureStart[c + 1] - m.featureStart[c]) }
        maxFeatureCount = maxF

        // Umeyama source statistics of the mean shape, as dlib's find_similarity_transform
        // computes them (double accumulation in point order).
        let n = m.landmarkCount
        var mx = 0.0, my = 0.0
        for j in 0..<n {
            mx += Double(m.initialShape[2 * j])
            my += Double(m.initialShape[2 * j + 1])
        }
        mx /= Double(n)
        my /= Double(n)
        var centered = [Double](repeating: 0, count: 2 * n)
        var sigma = 0.0
        for j in 0..<n {
            let dx = Double(m.initialShape[2 * j]) - mx
            let dy = Double(m.initialShape[2 * j + 1]) - my
            centered[2 * j] = dx
            centered[2 * j + 1] = dy
            sigma += dx * dx + dy * dy
        }
        centeredInitialShape = centered
        initialShapeVariance = sigma / Double(n)
    }

    // MARK: Inference

    /// dlib's integer landmarks for the face in `box`: ``landmarksFloat(in:box:)`` rounded with
    /// `floor(v + 0.5)`, as dlib converts to `point`.
    public func landmarks(in image: GrayImage8, box: FaceBox) -> [SIMD2<Int>] {
        landmarksFloat(in: image, box: box).map { p in
            SIMD2(Int((p.x + 0.5).rounded(.down)), Int((p.y + 0.5).rounded(.down)))
        }
    }

    /// The predicted landmarks before rounding: the final normalized shape mapped through the box
    /// transform `x' = left + (right − left)·x`, `y' = top + (bottom − top)·y` in Double.
    public func landmarksFloat(in image: GrayImage8, box: FaceBox) -> [SIMD2<Double>] {
        let shape = normalizedShape(in: image, box: box)
        let bw = Double(box.right - box.left), bh = Double(box.bottom - box.top)
        let bl = Double(box.left), bt = Double(box.top)
        return (0..<landmarkCount).map { j in
            SIMD2(bw * Double(shape[2 * j]) + bl, bh * Double(shape[2 * j + 1]) + bt)
        }
    }

    /// Convenience: converts `image` with ``GrayImage8/init(_:)`` first. Convert once and call
    /// `landmarks(in: GrayImage8, box:)` when predicting several faces of one image.
    public func landmarks(in image: Image, box: FaceBox) -> [SIMD2<Int>] {
        landmarks(in: GrayImage8(image), box: box)
    }

    /// Convenience: converts `image` with ``GrayImage8/init(_:)`` first.
    public func landmarksFloat(in image: Image, box: FaceBox) -> [SIMD2<Double>] {
        landmarksFloat(in: GrayImage8(image), box: box)
    }

    /// The final shape `x0, y0, …` in the unit square of `box` (dlib's `current_shape`).
    public func normalizedShape(in image: GrayImage8, box: FaceBox) -> [Float] {
        let n = landmarkCount
        let leafLength = 2 * n
        let splits = splitsPerTree
        let leavesPerTree = splits + 1
        let width = image.width, height = image.height
        let fw = Double(width), fh = Double(height)
        let bw = Double(box.right - box.left), bh = Double(box.bottom - box.top)
        let bl = Double(box.left), bt = Double(box.top)
        let sigma = initialShapeVariance

        var current = initialShape
        var features = [Float](repeating: 0, count: max(1, maxFeatureCount))

        current.withUnsafeMutableBufferPointer { curBuf in
        features.withUnsafeMutableBufferPointer { featBuf in
        image.pixels.withUnsafeBufferPointer { pix in
        centeredInitialShape.withUnsafeBufferPointer { from in
        anchors.withUnsafeBufferPointer { anchor in
        deltas.withUnsafeBufferPointer { delta in
        splitIdx1.withUnsafeBufferPointer { idx1 in
        splitIdx2.withUnsafeBufferPointer { idx2 in
        splitThresh.withUnsafeBufferPointer { thresh in
        leafValues.withUnsafeBufferPointer { leaves in
            let cur = curBuf.baseAddress!
            let f = featBuf.baseAddress!
            for c in 0..<cascadeCount {
                // Similarity (rotation·scale) from the mean shape to the current shape, computed in
                // Double and cast to Float as dlib does.
                let a = ShapePredictor.similarity(centeredFrom: from.baseAddress!, variance: sigma,
                                                  to: UnsafePointer(cur), count: n)
                let a00 = Float(a.m00), a01 = Float(a.m01), a10 = Float(a.m10), a11 = Float(a.m11)

                // Feature pixel intensities.
                let fb = featureStart[c], fe = featureStart[c + 1]
                for i in fb..<fe {
                    let k = Int(anchor[i])
                    let dx = delta[2 * i], dy = delta[2 * i + 1]
                    let px: Float = (a00 * dx + a01 * dy) + cur[2 * k]
                    let py: Float = (a10 * dx + a11 * dy) + cur[2 * k + 1]
                    let x = (bw * Double(px) + bl + 0.5).rounded(.down)
                    let y = (bh * Double(py) + bt + 0.5).rounded(.down)
                    var v: Float = 0
                    if x >= 0, x < fw, y >= 0, y < fh {
                        v = Float(pix[Int(y) * width + Int(x)])
                    }
                    f[i - fb] = v
                }

                // The forest: walk each tree, add its leaf to the shape (in tree order).
                for t in treeStart[c]..<treeStart[c + 1] {
                    let sb = t * splits
                    var node = 0
                    while node < splits {
                        let s = sb + node
                        node = f[Int(idx1[s])] - f[Int(idx2[s])] > thresh[s] ? 2 * node + 1 : 2 * node + 2
                    }
                    let leaf = leaves.baseAddress! + (t * leavesPerTree + node - splits) * leafLength
                    for k in 0..<leafLength { cur[k] += leaf[k] }
                }
            }
        }}}}}}}}}}
        return current
    }

    /// The 2×2 similarity matrix `c·R` of dlib's `find_similarity_transform` (Umeyama 1991,
    /// eqs. 34–43) mapping the points `from` onto `to`, computed in Double.
    ///
    /// Umeyama's solution: with the covariance `Σ = [[a, b], [c, d]]` of the centred target
    /// against the centred source, `Σ = U·D·Vᵀ`, `S = diag(1, −1)` on the smaller singular value
    /// when `det Σ < 0` (reflection fix) else `I`, `R = U·S·Vᵀ` and scale `trace(D·S) / σ²`. For
    /// 2×2 matrices this has the closed form used here: `R` is the rotation by
    /// `atan2(c − b, a + d)` and `trace(D·S) = √((a + d)² + (c − b)²)` in both determinant cases,
    /// so `c·R = [[a + d, b − c], [c − b, a + d]] / σ²` — the same matrix as the SVD route up to
    /// rounding in the last bits of a Double (below Float resolution after dlib's cast).
    public static func similarityTransform(from: [SIMD2<Float>], to: [SIMD2<Float>])
        -> (m00: Double, m01: Double, m10: Double, m11: Double)
    {
        precondition(from.count == to.count && from.count >= 2, "similarityTransform: need ≥ 2 point pairs")
        let n = from.count
        var mx = 0.0, my = 0.0
        for p in from { mx += Double(p.x); my += Double(p.y) }
        mx /= Double(n)
        my /= Double(n)
        var centered = [Double](repeating: 0, count: 2 * n)
        var sigma = 0.0
        for (j, p) in from.enumerated() {
            let dx = Double(p.x) - mx, dy = Double(p.y) - my
            centered[2 * j] = dx
            centered[2 * j + 1] = dy
            sigma += dx * dx + dy * dy
        }
        sigma /= Double(n)
        var flat = [Float](repeating: 0, count: 2 * n)
        for (j, p) in to.enumerated() { flat[2 * j] = p.x; flat[2 * j + 1] = p.y }
        return centered.withUnsafeBufferPointer { c in
            flat.withUnsafeBufferPointer { t in
                similarity(centeredFrom: c.baseAddress!, variance: sigma, to: t.baseAddress!, count: n)
            }
        }
    }

    /// Umeyama similarity from precomputed source statistics (centred source points, source
    /// variance) to the `Float` target shape `to` (x0, y0, x1, y1, …).
    @inline(__always)
    static func similarity(centeredFrom from: UnsafePointer<Double>, variance sigma: Double,
                           to: UnsafePointer<Float>, count n: Int)
        -> (m00: Double, m01: Double, m10: Double, m11: Double)
    {
        var mx = 0.0, my = 0.0
        for j in 0..<n {
            mx += Double(to[2 * j])
            my += Double(to[2 * j + 1])
        }
        mx /= Double(n)
        my /= Double(n)
        // Covariance of target against source: cov += (to − meanTo)·(from − meanFrom)ᵀ.
        var c00 = 0.0, c01 = 0.0, c10 = 0.0, c11 = 0.0
        for j in 0..<n {
            let tx = Double(to[2 * j]) - mx, ty = Double(to[2 * j + 1]) - my
            let fx = from[2 * j], fy = from[2 * j + 1]
            c00 += tx * fx
            c01 += tx * fy
            c10 += ty * fx
            c11 += ty * fy
        }
        let dn = Double(n)
        c00 /= dn; c01 /= dn; c10 /= dn; c11 /= dn
        let p = c00 + c11          // (a + d): cos θ · trace(D·S)
        let q = c10 - c01          // (c − b): sin θ · trace(D·S)
        if sigma != 0 {
            let inv = 1.0 / sigma
            return (inv * p, -(inv * q), inv * q, inv * p)
        }
        // Degenerate source (all points equal): dlib keeps scale 1, so c·R = R.
        let r = (p * p + q * q).squareRoot()
        if r == 0 { return (1, 0, 0, 1) }
        return (p / r, -q / r, q / r, p / r)
    }
}

// MARK: - Parsing

/// The flat arrays of a parsed model (see ``ShapePredictor``'s stored properties).
fileprivate struct DlibShapePredictorContents {
    var landmarkCount = 0
    var initialShape: [Float] = []
    var splitsPerTree = -1
    var treeStart: [Int] = [0]
    var featureStart: [Int] = [0]
    var splitIdx1: [Int32] = []
    var splitIdx2: [Int32] = []
    var splitThresh: [Float] = []
    var leafValues: [Float] = []
    var anchors: [Int32] = []
    var deltas: [Float] = []

    /// Reads dlib's `shape_predictor` serialization: version (int, 1), initial_shape
    /// (matrix<float,0,1>), forests (vector<vector<regression_tree>>), anchor_idx
    /// (vector<vector<unsigned long>>), deltas (vector<vector<vector<float,2>>>), then end of
    /// file. A tree is splits (vector of {idx1, idx2: unsigned long; thresh: float}) then
    /// leaf_values (vector<matrix<float,0,1>>).
    init(_ r: inout DlibDeserializer) throws(DlibFormatError) {
        let versionAt = r.offset
        let version = try r.readInt(byteWidth: 4, "shape_predictor version")
        guard version == 1 else {
            throw r.error("shape_predictor version 1", found: "version \(version)", at: versionAt)
        }

        let shapeAt = r.offset
        let (rows, cols, shape) = try r.readFloatMatrix("initial_shape matrix")
        guard cols == 1, rows >= 4, rows % 2 == 0 else {
            throw r.error("initial_shape as a (2·parts)×1 matrix with at least 2 parts",
                          found: "a \(rows)x\(cols) matrix", at: shapeAt)
        }
        landmarkCount = rows / 2
        initialShape = shape
        let leafLength = rows

        // Forests.
        let cascadesAt = r.offset
        let cascades = try r.readCount("forests (number of cascades)", minElementBytes: 2)
        guard cascades >= 1 else {
            throw r.error("at least one cascade", found: "0 cascades", at: cascadesAt)
        }
        // Largest split feature index per cascade and where it was read, checked against the
        // cascade's feature-pixel count once anchor_idx has been read.
        var maxIndex = [(value: UInt64, offset: Int)](repeating: (0, 0), count: cascades)
        for c in 0..<cascades {
            let trees = try r.readCount("forest (number of trees)", minElementBytes: 2)
            for _ in 0..<trees {
                let splitsAt = r.offset
                let splits = try r.readCount("tree splits (count)", minElementBytes: 8)
                if splitsPerTree < 0 {
                    guard splits >= 1, (splits + 1) & splits == 0 else {
                        throw r.error("a full binary tree (2^depth − 1 splits, depth ≥ 1)",
                                      found: "\(splits) splits", at: splitsAt)
                    }
                    splitsPerTree = splits
                    // Capacity estimate from the first forest, bounded by what the remaining bytes
                    // can hold (a float takes at least 4 bytes).
                    let estimatedTrees = cascades * trees
                    let maxLeafFloats = r.remaining / 4
                    leafValues.reserveCapacity(min(estimatedTrees * (splits + 1) * leafLength, maxLeafFloats))
                    let maxSplits = min(estimatedTrees * splits, r.remaining / 8)
                    splitIdx1.reserveCapacity(maxSplits)
                    splitIdx2.reserveCapacity(maxSplits)
                    splitThresh.reserveCapacity(maxSplits)
                } else if splits != splitsPerTree {
                    throw r.error("\(splitsPerTree) splits (all trees of one depth)",
                                  found: "\(splits) splits", at: splitsAt)
                }
                for _ in 0..<splits {
                    let at = r.offset
                    let i1 = try r.readUnsigned("split idx1")
                    let i2 = try r.readUnsigned("split idx2")
                    let th = try r.readFloat("split thresh")
                    let m = max(i1, i2)
                    guard m < UInt64(Int32.max) else {
                        throw r.error("split feature index < 2^31", found: "\(m)", at: at)
                    }
                    if m >= maxIndex[c].value { maxIndex[c] = (m, at) }
                    splitIdx1.append(Int32(i1))
                    splitIdx2.append(Int32(i2))
                    splitThresh.append(th)
                }
                let leavesAt = r.offset
                let leaves = try r.readCount("tree leaf_values (count)", minElementBytes: 4 * leafLength)
                guard leaves == splits + 1 else {
                    throw r.error("\(splits + 1) leaves for \(splits) splits", found: "\(leaves) leaves", at: leavesAt)
                }
                for _ in 0..<leaves {
                    let leafAt = r.offset
                    let (lr, lc) = try r.readMatrixShape("leaf value matrix")
                    guard lr == leafLength, lc == 1 else {
                        throw r.error("a \(leafLength)x1 leaf value matrix", found: "\(lr)x\(lc)", at: leafAt)
                    }
                    for _ in 0..<leafLength { leafValues.append(try r.readFloat("leaf value")) }
                }
            }
            treeStart.append(treeStart[c] + trees)
        }

        // Feature pixels: anchor landmark per pixel.
        let anchorsAt = r.offset
        let anchorCascades = try r.readCount("anchor_idx (number of cascades)", minElementBytes: 2)
        guard anchorCascades == cascades else {
            throw r.error("anchor_idx for \(cascades) cascades", found: "\(anchorCascades)", at: anchorsAt)
        }
        for c in 0..<cascades {
            let countAt = r.offset
            let n = try r.readCount("anchor_idx (number of feature pixels)", minElementBytes: 2)
            guard n > 0 else {
                throw r.error("at least one feature pixel", found: "0", at: countAt)
            }
            anchors.reserveCapacity(anchors.count + n)
            for _ in 0..<n {
                let at = r.offset
                let a = try r.readUnsigned("anchor index")
                guard a < UInt64(landmarkCount) else {
                    throw r.error("anchor index < \(landmarkCount)", found: "\(a)", at: at)
                }
                anchors.append(Int32(a))
            }
            featureStart.append(featureStart[c] + n)
            if treeStart[c + 1] > treeStart[c], maxIndex[c].value >= UInt64(n) {
                throw r.error("split feature index < \(n) (cascade \(c) has \(n) feature pixels)",
                              found: "\(maxIndex[c].value)", at: maxIndex[c].offset)
            }
        }

        // Feature pixels: (dx, dy) offsets from the anchors.
        let deltasAt = r.offset
        let deltaCascades = try r.readCount("deltas (number of cascades)", minElementBytes: 2)
        guard deltaCascades == cascades else {
            throw r.error("deltas for \(cascades) cascades", found: "\(deltaCascades)", at: deltasAt)
        }
        deltas.reserveCapacity(2 * anchors.count)
        for c in 0..<cascades {
            let at = r.offset
            let n = try r.readCount("deltas (number of feature pixels)", minElementBytes: 8)
            let expected = featureStart[c + 1] - featureStart[c]
            guard n == expected else {
                throw r.error("\(expected) deltas (one per anchor)", found: "\(n)", at: at)
            }
            for _ in 0..<n {
                deltas.append(try r.readFloat("delta x"))
                deltas.append(try r.readFloat("delta y"))
            }
        }
        try r.expectEnd("end of file after the shape_predictor")
    }
}
