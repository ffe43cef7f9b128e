import Foundation
import Imaging
import Parallelism

/// A detection rectangle in image pixels, exactly as OpenCV's `cv::Rect` output of
/// `CascadeClassifier::detectMultiScale`: top-left corner and size.
public struct HaarBox: Sendable, Hashable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    public var area: Int { width * height }

    /// Intersection over union with another box (0 when either is empty).
    public func iou(_ o: HaarBox) -> Double {
        let ix = max(0, min(x + width, o.x + o.width) - max(x, o.x))
        let iy = max(0, min(y + height, o.y + o.height) - max(y, o.y))
        let inter = ix * iy
        let union = area + o.area - inter
        return union > 0 ? Double(inter) / Double(union) : 0
    }

    public var description: String { "[\(x), \(y), \(width), \(height)]" }
}

/// Integral images of an 8-bit plane, laid out as OpenCV's `cv::integral(img, sum, sqsum,
/// CV_32S, CV_32S)`: `(width + 1) × (height + 1)` entries, row stride `width + 1`, first row and
/// column zero. Both tables hold their values modulo 2³² (OpenCV's 32-bit squared sums wrap on
/// large images too); differences over a rectangle are exact whenever the true rectangle sum
/// fits in 32 bits (always, for detection windows).
public struct HaarIntegralImage: Sendable {
    public let width: Int
    public let height: Int
    /// Σ pixel, modulo 2³².
    public let sum: [UInt32]
    /// Σ pixel², modulo 2³².
    public let squaredSum: [UInt32]

    /// Builds both tables from `gray` (row-major, `width * height` bytes).
    public init(gray: [UInt8], width: Int, height: Int) {
        precondition(width >= 0 && height >= 0 && gray.count == width * height, "HaarIntegralImage: bad plane size")
        self.width = width
        self.height = height
        let n = (width + 1) * (height + 1)
        var s = [UInt32](repeating: 0, count: n)
        var q = [UInt32](repeating: 0, count: n)
        gray.withUnsafeBufferPointer { g in
            s.withUnsafeMutableBufferPointer { sp in
                q.withUnsafeMutableBufferPointer { qp in
                    HaarIntegralImage.fill(g.baseAddress!, width: width, height: height,
                                           sum: sp.baseAddress!, sq: qp.baseAddress!)
                }
            }
        }
        sum = s
        squaredSum = q
    }

    @inline(__always)
    static func fill(_ g: UnsafePointer<UInt8>, width: Int, height: Int,
                     sum: UnsafeMutablePointer<UInt32>, sq: UnsafeMutablePointer<UInt32>) {
        let stride = width + 1
        for i in 0..<stride { sum[i] = 0; sq[i] = 0 }
        for y in 0..<height {
            let row = g + y * width
            let prevS = sum + y * stride, prevQ = sq + y * stride
            let curS = prevS + stride, curQ = prevQ + stride
            curS[0] = 0; curQ[0] = 0
            var rs: UInt32 = 0, rq: UInt32 = 0
            for x in 0..<width {
                let v = UInt32(row[x])
                rs &+= v
                rq &+= v &* v
                curS[x + 1] = prevS[x + 1] &+ rs
                curQ[x + 1] = prevQ[x + 1] &+ rq
            }
        }
    }

    /// Σ pixel over the rectangle (exact while it fits in 32 bits).
    public func rectSum(x: Int, y: Int, width w: Int, height h: Int) -> Int {
        let st = width + 1
        let d = sum[y * st + x] &- sum[y * st + x + w] &- sum[(y + h) * st + x] &+ sum[(y + h) * st + x + w]
        return Int(Int32(bitPattern: d))
    }

    /// Σ pixel² over the rectangle (exact while it fits in 32 bits).
    public func rectSquaredSum(x: Int, y: Int, width w: Int, height h: Int) -> Int {
        let st = width + 1
        let d = squaredSum[y * st + x] &- squaredSum[y * st + x + w] &- squaredSum[(y + h) * st + x]
            &+ squaredSum[(y + h) * st + x + w]
        return Int(d)
    }
}

/// OpenCV's Haar cascade face detector, `cv::CascadeClassifier::detectMultiScale` (OpenCV 4.6,
/// CPU path), reproduced step for step: the Viola–Jones attentional cascade of boosted Haar
/// features (Viola & Jones, CVPR 2001) with Lienhart & Maydt's (ICIP 2002) variance-normalised
/// evaluation, scanned over an image pyramid.
///
/// 1. 8-bit gray: `(9798·R + 19235·G + 3735·B + 16384) >> 15` (OpenCV's `cvtColor` BGR→GRAY).
/// 2. Scales 1, s, s², … (accumulated in `double`, stored as `float`) while the rounded window
///    fits; per scale the gray image is resized to `(cvRound(W/f), cvRound(H/f))` (float division)
///    with OpenCV's bit-exact bilinear resize (`INTER_LINEAR_EXACT`: 8.8 fixed-point weights,
///    rows rounded with `(… + 2¹⁵) >> 16`).
/// 3. 32-bit integral and squared integral images; windows every 1 (f ≥ 2) or 2 pixels of the
///    scaled image; a window rejected by the first stage skips the next position.
/// 4. Variance normalisation over the window shrunk by one pixel:
///    `nf = area·Σx² − (Σx)²`, rejected when `nf ≤ 0` or `area·(float)(1/√nf) ≥ 0.1`; features are
///    `(Σ wᵢ·rectᵢ)·(float)(1/√nf)` in `float`; stage sums in `double` against `threshold − 1e-5f`.
/// 5. Hits map back as `(cvRound(x·f), cvRound(y·f), cvRound(24·f), cvRound(24·f))`, grouped by
///    `groupRectangles(minNeighbors, eps 0.2)` and clipped to the image.
///
/// Windows are evaluated in parallel over blocks of rows with ``Parallel`` (stump cascades eight
/// positions at a time in SIMD lanes that repeat the scalar float operations exactly);
/// candidates are collected per block and concatenated in scan order, so results are
/// deterministic. Tilted (45°) features are not supported (``HaarCascadeError``).
public struct HaarDetector: Sendable {
    public let cascade: HaarCascade
    private let model: FlatCascade

    public init(cascade: HaarCascade) {
        self.cascade = cascade
        self.model = FlatCascade(cascade)
    }

    /// Loads the cascade at `cascadePath` (by default OpenCV's `haarcascade_frontalface_default.xml`).
    public init(cascadePath: String = HaarCascade.defaultPath) throws(HaarCascadeError) {
        self.init(cascade: try HaarCascade(contentsOf: cascadePath))
    }

    // MARK: Public entry points

    /// Detects objects (faces, for the default cascade) in `image` with OpenCV's defaults.
    /// `minSize` is (width, height) in pixels; (0, 0) means no minimum.
    public func detect(in image: Image, scaleFactor: Double = 1.1, minNeighbors: Int = 3,
                       minSize: (Int, Int) = (0, 0)) -> [HaarBox] {
        let gray = HaarDetector.grayPlane(image)
        return detect(gray: gray, width: image.width, height: image.height, scaleFactor: scaleFactor,
                      minNeighbors: minNeighbors, minSize: minSize)
    }

    /// Detects objects in an 8-bit gray plane (row-major, `width * height` bytes).
    public func detect(gray: [UInt8], width: Int, height: Int, scaleFactor: Double = 1.1,
                       minNeighbors: Int = 3, minSize: (Int, Int) = (0, 0)) -> [HaarBox] {
        let raw = candidates(gray: gray, width: width, height: height, scaleFactor: scaleFactor, minSize: minSize)
        let grouped = HaarDetector.groupRectangles(raw, groupThreshold: minNeighbors, eps: 0.2)
        return HaarDetector.clip(grouped, width: width, height: height)
    }

    /// The raw, ungrouped window hits in scan order (scale, then row, then column), as OpenCV's
    /// `detectMultiScaleNoGrouping` collects them (OpenCV's own order varies with its threads).
    public func candidates(gray: [UInt8], width: Int, height: Int, scaleFactor: Double = 1.1,
                           minSize: (Int, Int) = (0, 0)) -> [HaarBox] {
        precondition(gray.count == width * height, "HaarDetector: gray plane has \(gray.count) bytes for \(width)x\(height)")
        precondition(scaleFactor > 1, "HaarDetector: scaleFactor must be > 1")
        let scales = HaarDetector.scales(imageWidth: width, imageHeight: height,
                                         windowWidth: cascade.windowWidth, windowHeight: cascade.windowHeight,
                                         scaleFactor: scaleFactor, minSize: minSize)
        if scales.isEmpty { return [] }
        let ww = cascade.windowWidth, wh = cascade.windowHeight

        // Per-scale geometry (FeatureEvaluator::updateScaleData).
        struct Level {
            var scale: Float
            var w: Int, h: Int          // scaled image size
            var step: Int               // ystep
            var cols: Int, rows: Int    // window origins: x < cols, y < rows
            var winW: Int, winH: Int    // candidate size in the original image
        }
        var levels = [Level]()
        for sc in scales {
            let w = cvRound(Float(width) / sc), h = cvRound(Float(height) / sc)
            let cols = max(w + 1 - ww, 0), rows = max(h + 1 - wh, 0)
            levels.append(Level(scale: sc, w: w, h: h, step: sc >= 2 ? 1 : 2, cols: cols, rows: rows,
                                winW: cvRound(Float(ww) * sc), winH: cvRound(Float(wh) * sc)))
        }

        // Process the scales in batches whose integral images fit a memory budget; within a
        // batch, resize + integral run in parallel over scales, then windows over row blocks.
        let budget = max(1 << 22, (width + 1) * (height + 1))
        var output = [HaarBox]()
        var start = 0
        let workers = max(1, Parallel.workerCount)
        while start < levels.count {
            var end = start, pixels = 0
            while end < levels.count && (end == start || pixels + (levels[end].w + 1) * (levels[end].h + 1) <= budget) {
                pixels += (levels[end].w + 1) * (levels[end].h + 1)
                end += 1
            }
            let batch = Array(levels[start..<end])
            // 1. Scaled images, integrals and per-scale feature offsets.
            var levelSlots = [LevelData?](repeating: nil, count: batch.count)
            let model = self.model
            levelSlots.withUnsafeMutableBufferPointer { slots in
                let nw = min(workers, batch.count)
                Parallel.forChunks(nw, costPerItem: max(1, pixels * 4 / nw)) { r in
                    for wkr in r {
                        // Worker wkr takes scales wkr, wkr + W, … (interleaved for balance).
                        for li in stride(from: wkr, to: batch.count, by: nw) {
                            let lv = batch[li]
                            let scaled = (lv.w == width && lv.h == height)
                                ? gray
                                : HaarDetector.resizeBilinearExact(gray, width: width, height: height,
                                                                   toWidth: lv.w, toHeight: lv.h)
                            slots[li] = LevelData(gray: scaled, width: lv.w, height: lv.h, model: model)
                        }
                    }
                }
            }
            let levelData = levelSlots.map { $0! }
            // 2. Row blocks over all scales of the batch.
            struct Block { var level: Int; var r0: Int; var r1: Int }
            var blocks = [Block]()
            var windows = 0
            for (li, lv) in batch.enumerated() {
                let nRows = (lv.rows + lv.step - 1) / lv.step
                if nRows == 0 || lv.cols == 0 { continue }
                windows += nRows * ((lv.cols + lv.step - 1) / lv.step)
                let per = max(1, 8 / lv.step)
                var r = 0
                while r < nRows {
                    blocks.append(Block(level: li, r0: r, r1: min(nRows, r + per)))
                    r += per
                }
            }
            // Blocks are handed out one at a time (dynamic balance: some rows go much deeper
            // into the cascade than others); each block's hits go to its own slot.
            var results = [[HaarBox]](repeating: [], count: blocks.count)
            let queue = BlockQueue(count: blocks.count)
            results.withUnsafeMutableBufferPointer { res in
                let nw = min(workers, max(1, blocks.count))
                Parallel.forChunks(nw, costPerItem: max(1, windows * 8 / nw)) { r in
                    for _ in r {
                        while let b = queue.next() {
                            let blk = blocks[b]
                            let lv = batch[blk.level]
                            let ld = levelData[blk.level]
                            var found = [HaarBox]()
                            ld.scan(model: model, rowRange: blk.r0..<blk.r1, step: lv.step, cols: lv.cols) { x, y in
                                found.append(HaarBox(x: cvRound(Float(x) * lv.scale), y: cvRound(Float(y) * lv.scale),
                                                     width: lv.winW, height: lv.winH))
                            }
                            res[b] = found
                        }
                    }
                }
            }
            for r in results { output.append(contentsOf: r) }
            start = end
        }
        return output
    }

    // MARK: Building blocks (public for tests and reuse)

    /// OpenCV's 8-bit gray conversion of one RGB pixel: `(9798·R + 19235·G + 3735·B + 16384) >> 15`.
    @inlinable
    public static func gray(r: UInt8, g: UInt8, b: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (9798 &* Int(r) &+ 19235 &* Int(g) &+ 3735 &* Int(b) &+ 16384) >> 15)
    }

    /// The 8-bit gray plane of `image`: channels quantised with ``Image/quantize8(_:)``, RGB(A)
    /// combined with ``gray(r:g:b:)`` (alpha ignored), gray images taken as they are.
    public static func grayPlane(_ image: Image) -> [UInt8] {
        let n = image.planeSize
        var out = [UInt8](repeating: 0, count: n)
        image.pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                switch image.channels {
                case 1, 2:
                    for i in 0..<n { o[i] = Image.quantize8(p[i]) }
                default:
                    for i in 0..<n {
                        o[i] = gray(r: Image.quantize8(p[i]), g: Image.quantize8(p[n + i]), b: Image.quantize8(p[2 * n + i]))
                    }
                }
            }
        }
        return out
    }

    /// The scale factors OpenCV 4.6 scans for an image (`detectMultiScaleNoGrouping`): factors
    /// 1, s, s², … accumulated in `double` while `cvRound(window·factor)` fits the image, stored
    /// as `float`; those whose rounded window is smaller than `minSize` are dropped (if none
    /// remain, the one closest to `minSize` is kept, as OpenCV does).
    public static func scales(imageWidth: Int, imageHeight: Int, windowWidth: Int, windowHeight: Int,
                              scaleFactor: Double, minSize: (Int, Int) = (0, 0)) -> [Float] {
        if imageWidth < windowWidth || imageHeight < windowHeight || !(scaleFactor > 1) { return [] }
        var all = [Float]()
        var factor = 1.0
        while true {
            let w = cvRound(Double(windowWidth) * factor), h = cvRound(Double(windowHeight) * factor)
            if w > imageWidth || h > imageHeight { break }
            all.append(Float(factor))
            factor *= scaleFactor
        }
        var out = [Float]()
        for s in all {
            let w = cvRound(Float(windowWidth) * s), h = cvRound(Float(windowHeight) * s)
            if w > imageWidth || h > imageHeight { break }
            if w < minSize.0 || h < minSize.1 { continue }
            out.append(s)
        }
        if out.isEmpty && !all.isEmpty {
            var best = 0
            var bestD = Double.infinity
            for (i, s) in all.enumerated() {
                let w = cvRound(Float(windowWidth) * s), h = cvRound(Float(windowHeight) * s)
                let d = Double((minSize.0 - w) * (minSize.0 - w) + (minSize.1 - h) * (minSize.1 - h))
                if bestD > d { bestD = d; best = i }
            }
            out.append(all[best])
        }
        return out
    }

    /// OpenCV's bit-exact bilinear resize of an 8-bit plane (`resize(..., INTER_LINEAR_EXACT)`,
    /// `resize_bitExact<uchar, interpolationLinear>`): source coordinate `(d + 0.5)·(1/(dst/src)) − 0.5`
    /// in `double`, weights rounded to 8 fractional bits, horizontal pass kept in 8.8 fixed
    /// point, vertical pass `(a·w₀ + b·w₁ + 2¹⁵) >> 16`; rows/columns left of the source replicate
    /// the first sample, those right of it the last.
    public static func resizeBilinearExact(_ src: [UInt8], width: Int, height: Int,
                                           toWidth dw: Int, toHeight dh: Int) -> [UInt8] {
        precondition(src.count == width * height && width > 0 && height > 0 && dw > 0 && dh > 0,
                     "resizeBilinearExact: bad sizes")
        if dw == width && dh == height { return src }
        let cx = LinearCoefficients(inverseScale: Double(dw) / Double(width), srcSize: width, dstSize: dw)
        let cy = LinearCoefficients(inverseScale: Double(dh) / Double(height), srcSize: height, dstSize: dh)
        var out = [UInt8](repeating: 0, count: dw * dh)
        var h0 = [UInt32](repeating: 0, count: dw)
        var h1 = [UInt32](repeating: 0, count: dw)
        src.withUnsafeBufferPointer { sp in
            out.withUnsafeMutableBufferPointer { op in
                h0.withUnsafeMutableBufferPointer { h0b in
                    h1.withUnsafeMutableBufferPointer { h1b in
                        var h0p = h0b.baseAddress!, h1p = h1b.baseAddress!
                        let s = sp.baseAddress!
                        var row0 = -1, row1 = -1
                        for dy in 0..<dh {
                            let o = op.baseAddress! + dy * dw
                            if dy < cy.minIndex || dy >= cy.maxIndex {
                                // vlineSet: one source row, rounded back to 8 bits.
                                let sy = dy < cy.minIndex ? 0 : height - 1
                                cx.horizontal(s + sy * width, into: h0p)
                                row0 = -1; row1 = -1
                                for x in 0..<dw { o[x] = UInt8(truncatingIfNeeded: min(255, (h0p[x] + 128) >> 8)) }
                                continue
                            }
                            let sy = cy.offsets[dy]
                            if row0 != sy {
                                if row1 == sy {
                                    swap(&h0p, &h1p)
                                } else {
                                    cx.horizontal(s + sy * width, into: h0p)
                                }
                                cx.horizontal(s + (sy + 1) * width, into: h1p)
                                row0 = sy; row1 = sy + 1
                            }
                            let m0 = UInt32(cy.c0[dy]), m1 = UInt32(cy.c1[dy])
                            for x in 0..<dw {
                                let v = (h0p[x] &* m0 &+ h1p[x] &* m1 &+ 32768) >> 16
                                o[x] = UInt8(truncatingIfNeeded: min(255, v))
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// OpenCV's `groupRectangles(rects, groupThreshold, eps)` (no weights): partition into
    /// classes of similar rectangles (all four edges within `eps·(min w + min h)/2`, transitively),
    /// average each class (`cvRound(sum·(1.f/n))`), keep classes with more than `groupThreshold`
    /// members, and drop a class lying inside another kept class (grown by `eps` of its size)
    /// when that class has more members than `max(3, n)` or this class has fewer than 3.
    /// With `groupThreshold ≤ 0` the rectangles are returned unchanged.
    public static func groupRectangles(_ rects: [HaarBox], groupThreshold: Int, eps: Double = 0.2) -> [HaarBox] {
        if groupThreshold <= 0 || rects.isEmpty { return rects }
        let (labels, nclasses) = partition(rects, eps: eps)
        var sx = [Int](repeating: 0, count: nclasses), sy = sx, sw = sx, sh = sx, count = sx
        for (i, r) in rects.enumerated() {
            let c = labels[i]
            sx[c] += r.x; sy[c] += r.y; sw[c] += r.width; sh[c] += r.height; count[c] += 1
        }
        var avg = [HaarBox]()
        avg.reserveCapacity(nclasses)
        for c in 0..<nclasses {
            let s: Float = 1 / Float(count[c])
            avg.append(HaarBox(x: cvRound(Float(sx[c]) * s), y: cvRound(Float(sy[c]) * s),
                               width: cvRound(Float(sw[c]) * s), height: cvRound(Float(sh[c]) * s)))
        }
        var out = [HaarBox]()
        for i in 0..<nclasses {
            let r1 = avg[i], n1 = count[i]
            if n1 <= groupThreshold { continue }
            var inside = false
            for j in 0..<nclasses where j != i {
                let n2 = count[j]
                if n2 <= groupThreshold { continue }
                let r2 = avg[j]
                let dx = cvRound(Double(r2.width) * eps), dy = cvRound(Double(r2.height) * eps)
                if r1.x >= r2.x - dx && r1.y >= r2.y - dy
                    && r1.x + r1.width <= r2.x + r2.width + dx && r1.y + r1.height <= r2.y + r2.height + dy
                    && (n2 > max(3, n1) || n1 < 3) {
                    inside = true
                    break
                }
            }
            if !inside { out.append(r1) }
        }
        return out
    }

    /// OpenCV's `SimilarRects(eps)` predicate.
    @inlinable
    public static func similar(_ a: HaarBox, _ b: HaarBox, eps: Double) -> Bool {
        let delta = eps * Double(min(a.width, b.width) + min(a.height, b.height)) * 0.5
        return Double(abs(a.x - b.x)) <= delta && Double(abs(a.y - b.y)) <= delta
            && Double(abs(a.x + a.width - b.x - b.width)) <= delta
            && Double(abs(a.y + a.height - b.y - b.height)) <= delta
    }

    /// Connected components of the similarity graph (`cv::partition`), labelled in order of
    /// first appearance.
    static func partition(_ rects: [HaarBox], eps: Double) -> (labels: [Int], count: Int) {
        let n = rects.count
        var parent = Array(0..<n)
        func find(_ i: Int) -> Int {
            var r = i
            while parent[r] != r { r = parent[r] }
            var k = i
            while parent[k] != r { let p = parent[k]; parent[k] = r; k = p }
            return r
        }
        // Rectangles of very different size cannot be similar: compare within a sweep over x.
        let order = (0..<n).sorted { rects[$0].x < rects[$1].x }
        let maxW = rects.map { $0.width }.max() ?? 0
        let maxH = rects.map { $0.height }.max() ?? 0
        let reach = eps * Double(maxW + maxH) * 0.5
        for a in 0..<n {
            let i = order[a]
            var b = a + 1
            while b < n {
                let j = order[b]
                if Double(rects[j].x - rects[i].x) > reach { break }
                if similar(rects[i], rects[j], eps: eps) {
                    let ri = find(i), rj = find(j)
                    if ri != rj { parent[max(ri, rj)] = min(ri, rj) }
                }
                b += 1
            }
        }
        var labels = [Int](repeating: -1, count: n)
        var classOfRoot = [Int](repeating: -1, count: n)
        var nclasses = 0
        for i in 0..<n {
            let r = find(i)
            if classOfRoot[r] < 0 { classOfRoot[r] = nclasses; nclasses += 1 }
            labels[i] = classOfRoot[r]
        }
        return (labels, nclasses)
    }

    /// `clipObjects`: intersect with the image and drop empty boxes.
    static func clip(_ boxes: [HaarBox], width: Int, height: Int) -> [HaarBox] {
        var out = [HaarBox]()
        for b in boxes {
            let x0 = max(0, b.x), y0 = max(0, b.y)
            let x1 = min(width, b.x + b.width), y1 = min(height, b.y + b.height)
            if x1 > x0 && y1 > y0 { out.append(HaarBox(x: x0, y: y0, width: x1 - x0, height: y1 - y0)) }
        }
        return out
    }
}

// MARK: - Rounding as OpenCV's cvRound (round half to even)

@inline(__always) private func cvRound(_ v: Float) -> Int { Int(v.rounded(.toNearestOrEven)) }
@inline(__always) private func cvRound(_ v: Double) -> Int { Int(v.rounded(.toNearestOrEven)) }

// MARK: - Resize coefficients (interpolationLinear in resize.cpp)

private struct LinearCoefficients {
    var offsets: [Int]
    var c0: [UInt16]
    var c1: [UInt16]
    /// Destination indices in `minIndex..<maxIndex` interpolate; below replicate the first
    /// source sample, at or above the last.
    var minIndex: Int
    var maxIndex: Int
    let srcSize: Int
    let dstSize: Int

    init(inverseScale: Double, srcSize: Int, dstSize: Int) {
        self.srcSize = srcSize
        self.dstSize = dstSize
        let scale = 1.0 / inverseScale
        offsets = [Int](repeating: 0, count: dstSize)
        c0 = [UInt16](repeating: 0, count: dstSize)
        c1 = [UInt16](repeating: 0, count: dstSize)
        var minOfs = 0, maxOfs = dstSize
        for v in 0..<dstSize {
            let f = scale * (Double(v) + 0.5) - 0.5
            let iv = Int(f.rounded(.down))
            if iv >= 0 && srcSize > 1 {
                if iv < srcSize - 1 {
                    offsets[v] = iv
                    let frac = f - Double(iv)
                    let w1 = frac.sign == .minus ? 0 : Int((frac * 256).rounded(.toNearestOrEven))
                    c1[v] = UInt16(w1)
                    c0[v] = UInt16(256 - w1)
                } else {
                    offsets[v] = srcSize - 1
                    maxOfs = min(maxOfs, v)
                }
            } else {
                minOfs = max(minOfs, v + 1)
            }
        }
        minIndex = minOfs
        maxIndex = maxOfs
    }

    /// hlineResize: one source row to 8.8 fixed point.
    @inline(__always)
    func horizontal(_ row: UnsafePointer<UInt8>, into dst: UnsafeMutablePointer<UInt32>) {
        let first = UInt32(row[0]) << 8
        let lo = min(minIndex, dstSize)
        for x in 0..<lo { dst[x] = first }
        offsets.withUnsafeBufferPointer { o in
            c0.withUnsafeBufferPointer { a in
                c1.withUnsafeBufferPointer { b in
                    if lo < maxIndex {
                        for x in lo..<maxIndex {
                            let p = row + o[x]
                            dst[x] = UInt32(a[x]) &* UInt32(p[0]) &+ UInt32(b[x]) &* UInt32(p[1])
                        }
                    }
                    if max(lo, maxIndex) < dstSize {
                        let last = UInt32(row[o[dstSize - 1]]) << 8
                        for x in max(lo, maxIndex)..<dstSize { dst[x] = last }
                    }
                }
            }
        }
    }
}

// MARK: - Work distribution

/// Hands out block indices 0..<count to worker threads, one at a time, under a lock.
private final class BlockQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var cursor = 0
    private let count: Int

    init(count: Int) { self.count = count }

    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard cursor < count else { return nil }
        cursor += 1
        return cursor - 1
    }
}

// MARK: - Integral storage

/// One scale's integral images and the cascade's feature offsets for its row stride.
/// Immutable after init and only read by the workers.
private final class LevelData: @unchecked Sendable {
    let stride: Int
    let sum: [UInt32]
    let sq: [UInt32]
    let packed: [PackedStump]

    init(gray: [UInt8], width: Int, height: Int, model: FlatCascade) {
        // Padded so that 8-lane loads past the last window origin stay inside the arrays.
        let n = (width + 1) * (height + 1) + 64
        var s = [UInt32](repeating: 0, count: n)
        var q = [UInt32](repeating: 0, count: n)
        gray.withUnsafeBufferPointer { g in
            s.withUnsafeMutableBufferPointer { sp in
                q.withUnsafeMutableBufferPointer { qp in
                    HaarIntegralImage.fill(g.baseAddress!, width: width, height: height,
                                           sum: sp.baseAddress!, sq: qp.baseAddress!)
                }
            }
        }
        stride = width + 1
        sum = s
        sq = q
        packed = model.packAll(stride: width + 1)
    }

    func scan(model: FlatCascade, rowRange: Range<Int>, step: Int, cols: Int, hit: (Int, Int) -> Void) {
        sum.withUnsafeBufferPointer { sp in
            sq.withUnsafeBufferPointer { qp in
                packed.withUnsafeBufferPointer { pk in
                    if model.isStumpCascade && (step == 1 || step == 2) {
                        model.scanRowsVector(sum: sp.baseAddress!, sq: qp.baseAddress!, packed: pk.baseAddress!,
                                             stride: stride, rowRange: rowRange, step: step, cols: cols, hit: hit)
                    } else {
                        model.scanRows(sum: sp.baseAddress!, sq: qp.baseAddress!, packed: pk.baseAddress!, stride: stride,
                                       rowRange: rowRange, step: step, cols: cols, hit: hit)
                    }
                }
            }
        }
    }
}

// MARK: - The cascade flattened for evaluation

/// One stump (or tree node) with its feature inlined: rectangle corner offsets relative to the
/// window origin in the integral image of row stride `stride`, weights, threshold, leaves.
private struct PackedStump {
    var a0: Int32, a1: Int32, a2: Int32, a3: Int32
    var b0: Int32, b1: Int32, b2: Int32, b3: Int32
    var c0: Int32, c1: Int32, c2: Int32, c3: Int32
    var w0: Float, w1: Float, w2: Float
    var threshold: Float
    var left: Float, right: Float
}

private struct FlatCascade: Sendable {
    let windowWidth: Int
    let windowHeight: Int
    /// Feature rectangles per feature (x, y, w, h) ×3 and weights ×3 (zero-padded).
    let featRects: [Int32]
    let featWeights: [Float]
    /// Stage boundaries into the stump/tree arrays and thresholds (float `threshold − 1e-5f`).
    let stageEnd: [Int]
    let stageThreshold: [Double]
    let isStumpCascade: Bool
    /// Stump cascades: feature index, threshold, left, right per stump.
    let stumpFeature: [Int]
    let stumpThreshold: [Float]
    let stumpLeft: [Float]
    let stumpRight: [Float]
    /// General trees: per tree, node and leaf start; nodes flattened.
    let treeNodeStart: [Int]
    let treeLeafStart: [Int]
    let nodeLeft: [Int]
    let nodeRight: [Int]
    let nodeFeature: [Int]
    let nodeThreshold: [Float]
    let leaves: [Float]

    init(_ c: HaarCascade) {
        windowWidth = c.windowWidth
        windowHeight = c.windowHeight
        var fr = [Int32](), fw = [Float]()
        for f in c.features {
            for k in 0..<3 {
                if k < f.rects.count {
                    let r = f.rects[k]
                    fr += [Int32(r.x), Int32(r.y), Int32(r.width), Int32(r.height)]
                    fw.append(r.weight)
                } else {
                    fr += [0, 0, 0, 0]
                    fw.append(0)
                }
            }
        }
        featRects = fr
        featWeights = fw
        let thresholdEps: Float = 1e-5
        var ends = [Int](), thr = [Double]()
        var sf = [Int](), st = [Float](), sl = [Float](), sr = [Float]()
        var tns = [Int](), tls = [Int](), nl = [Int](), nr = [Int](), nfeat = [Int](), nthr = [Float](), lv = [Float]()
        let stumps = c.stages.allSatisfy { $0.trees.allSatisfy { $0.nodes.count == 1 && $0.leaves.count >= 2 } }
        var treeCount = 0
        for s in c.stages {
            for t in s.trees {
                if stumps {
                    let n = t.nodes[0]
                    sf.append(n.featureIndex); st.append(n.threshold)
                    // Stump(node.featureIdx, node.threshold, leaves[leafOfs], leaves[leafOfs+1]).
                    sl.append(t.leaves[0]); sr.append(t.leaves[1])
                } else {
                    tns.append(nl.count); tls.append(lv.count)
                    for n in t.nodes {
                        nl.append(n.left); nr.append(n.right); nfeat.append(n.featureIndex); nthr.append(n.threshold)
                    }
                    lv += t.leaves
                }
                treeCount += 1
            }
            ends.append(treeCount)
            thr.append(Double(s.threshold - thresholdEps))
        }
        stageEnd = ends
        stageThreshold = thr
        isStumpCascade = stumps
        stumpFeature = sf; stumpThreshold = st; stumpLeft = sl; stumpRight = sr
        treeNodeStart = tns; treeLeafStart = tls
        nodeLeft = nl; nodeRight = nr; nodeFeature = nfeat; nodeThreshold = nthr; leaves = lv
    }

    /// Packs feature `fi` for integral row stride `stride` (CV_SUM_OFS).
    func pack(feature fi: Int, stride: Int, threshold: Float, left: Float, right: Float) -> PackedStump {
        func ofs(_ k: Int) -> (Int32, Int32, Int32, Int32) {
            let b = (fi * 3 + k) * 4
            let x = Int(featRects[b]), y = Int(featRects[b + 1]), w = Int(featRects[b + 2]), h = Int(featRects[b + 3])
            return (Int32(x + stride * y), Int32(x + w + stride * y),
                    Int32(x + stride * (y + h)), Int32(x + w + stride * (y + h)))
        }
        let a = ofs(0), b = ofs(1), c = ofs(2)
        return PackedStump(a0: a.0, a1: a.1, a2: a.2, a3: a.3, b0: b.0, b1: b.1, b2: b.2, b3: b.3,
                           c0: c.0, c1: c.1, c2: c.2, c3: c.3,
                           w0: featWeights[fi * 3], w1: featWeights[fi * 3 + 1], w2: featWeights[fi * 3 + 2],
                           threshold: threshold, left: left, right: right)
    }

    /// Feature offsets of every stump (or tree node) for integral row stride `stride`.
    func packAll(stride: Int) -> [PackedStump] {
        var p = [PackedStump]()
        if isStumpCascade {
            p.reserveCapacity(stumpFeature.count)
            for i in 0..<stumpFeature.count {
                p.append(pack(feature: stumpFeature[i], stride: stride, threshold: stumpThreshold[i],
                              left: stumpLeft[i], right: stumpRight[i]))
            }
        } else {
            p.reserveCapacity(nodeFeature.count)
            for i in 0..<nodeFeature.count {
                p.append(pack(feature: nodeFeature[i], stride: stride, threshold: nodeThreshold[i], left: 0, right: 0))
            }
        }
        return p
    }

    /// Scans window rows `rowRange` (row r is y = r·step) of one scale, calling `hit(x, y)` for
    /// each window that passes every stage, in x order. Mirrors CascadeClassifierInvoker (scalar
    /// path, used for tree cascades; stump cascades use ``scanRowsVector``).
    func scanRows(sum: UnsafePointer<UInt32>, sq: UnsafePointer<UInt32>, packed: UnsafePointer<PackedStump>,
                  stride: Int, rowRange: Range<Int>, step: Int, cols: Int, hit: (Int, Int) -> Void) {
        // normrect = (1, 1, w − 2, h − 2)
        let nx = 1, ny = 1, nw = windowWidth - 2, nh = windowHeight - 2
        let n0 = nx + stride * ny, n1 = nx + nw + stride * ny
        let n2 = nx + stride * (ny + nh), n3 = nx + nw + stride * (ny + nh)
        let area = Double(nw * nh)
        let pk = packed
        do {
            stageEnd.withUnsafeBufferPointer { ends in
                stageThreshold.withUnsafeBufferPointer { sthr in
                    for r in rowRange {
                        let y = r * step
                        var x = 0
                        while x < cols {
                            let base = y * stride + x
                            let ps = sum + base, pq = sq + base
                            let valsum = Int32(bitPattern: ps[n0] &- ps[n1] &- ps[n2] &+ ps[n3])
                            let valsq = pq[n0] &- pq[n1] &- pq[n2] &+ pq[n3]
                            var nf = area * Double(valsq) - Double(valsum) * Double(valsum)
                            var result: Int
                            if nf > 0 {
                                nf = nf.squareRoot()
                                let vnf = Float(1.0 / nf)
                                if area * Double(vnf) < 0.1 {
                                    result = isStumpCascade
                                        ? evalStumps(ps, vnf, pk, ends, sthr)
                                        : evalTrees(ps, vnf, pk, ends, sthr)
                                } else {
                                    result = -1
                                }
                            } else {
                                result = -1
                            }
                            if result > 0 { hit(x, y) }
                            if result == 0 { x += step }
                            x += step
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func feature(_ p: UnsafePointer<UInt32>, _ s: UnsafePointer<PackedStump>) -> Float {
        let sa = Int32(bitPattern: p[Int(s.pointee.a0)] &- p[Int(s.pointee.a1)] &- p[Int(s.pointee.a2)] &+ p[Int(s.pointee.a3)])
        let sb = Int32(bitPattern: p[Int(s.pointee.b0)] &- p[Int(s.pointee.b1)] &- p[Int(s.pointee.b2)] &+ p[Int(s.pointee.b3)])
        var v = s.pointee.w0 * Float(sa) + s.pointee.w1 * Float(sb)
        if s.pointee.w2 != 0 {
            let sc = Int32(bitPattern: p[Int(s.pointee.c0)] &- p[Int(s.pointee.c1)] &- p[Int(s.pointee.c2)] &+ p[Int(s.pointee.c3)])
            v += s.pointee.w2 * Float(sc)
        }
        return v
    }

    /// predictOrderedStump: 1 = accepted, −k = rejected at stage k (0 for the first stage).
    /// Starts at stage `firstStage`, whose first stump is `firstStump`.
    @inline(__always)
    private func evalStumps(_ p: UnsafePointer<UInt32>, _ vnf: Float, _ pk: UnsafePointer<PackedStump>,
                            _ ends: UnsafeBufferPointer<Int>, _ sthr: UnsafeBufferPointer<Double>,
                            firstStage: Int = 0, firstStump: Int = 0) -> Int {
        var i = firstStump
        for si in firstStage..<ends.count {
            var tmp = 0.0
            let e = ends[si]
            while i < e {
                let s = pk + i
                let value = FlatCascade.feature(p, s) * vnf
                tmp += Double(value < s.pointee.threshold ? s.pointee.left : s.pointee.right)
                i += 1
            }
            if tmp < sthr[si] { return -si }
        }
        return 1
    }

    /// Loads the values at `p`, `p + step`, … (8 lanes) for step 1 or 2.
    @inline(__always)
    private static func load8(_ p: UnsafePointer<UInt32>, _ step: Int) -> SIMD8<UInt32> {
        if step == 1 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt32>.self) }
        return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt32>.self).evenHalf
    }

    @inline(__always)
    private static func rectSum8(_ p: UnsafePointer<UInt32>, _ step: Int,
                                 _ o0: Int32, _ o1: Int32, _ o2: Int32, _ o3: Int32) -> SIMD8<Float> {
        let d = load8(p + Int(o0), step) &- load8(p + Int(o1), step) &- load8(p + Int(o2), step) &+ load8(p + Int(o3), step)
        return SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: d))
    }

    /// Sum of one stage's stump leaves for 8 windows (lane-wise the scalar computation).
    @inline(__always)
    private static func stageSum8(_ p: UnsafePointer<UInt32>, _ step: Int, _ vnf: SIMD8<Float>,
                                  _ pk: UnsafePointer<PackedStump>, _ from: Int, _ to: Int) -> SIMD8<Double> {
        var tmp = SIMD8<Double>(repeating: 0)
        for i in from..<to {
            let s = pk + i
            var v = s.pointee.w0 * rectSum8(p, step, s.pointee.a0, s.pointee.a1, s.pointee.a2, s.pointee.a3)
                + s.pointee.w1 * rectSum8(p, step, s.pointee.b0, s.pointee.b1, s.pointee.b2, s.pointee.b3)
            if s.pointee.w2 != 0 {
                v += s.pointee.w2 * rectSum8(p, step, s.pointee.c0, s.pointee.c1, s.pointee.c2, s.pointee.c3)
            }
            let value = v * vnf
            let leaf = SIMD8<Float>(repeating: s.pointee.right).replacing(with: s.pointee.left, where: value .< s.pointee.threshold)
            tmp += SIMD8<Double>(leaf)
        }
        return tmp
    }

    /// Stump cascades, 8 window positions at a time. Every lane performs the scalar path's IEEE
    /// operations in the same order, so results are bit-identical; the first stage is evaluated
    /// for all 8 positions, then OpenCV's skip rule (a position after a first-stage rejection is
    /// not evaluated) is applied, further stages run vectorised while enough lanes survive and
    /// the last survivors finish on the scalar path. The integral arrays must be readable
    /// `8·step` elements past the last window origin.
    func scanRowsVector(sum: UnsafePointer<UInt32>, sq: UnsafePointer<UInt32>, packed: UnsafePointer<PackedStump>,
                        stride: Int, rowRange: Range<Int>, step: Int, cols: Int, hit: (Int, Int) -> Void) {
        let nx = 1, ny = 1, nw = windowWidth - 2, nh = windowHeight - 2
        let n0 = nx + stride * ny, n1 = nx + nw + stride * ny
        let n2 = nx + stride * (ny + nh), n3 = nx + nw + stride * (ny + nh)
        let area = Double(nw * nh)
        let nStages = stageEnd.count
        let laneIndex = SIMD8<Int64>(0, 1, 2, 3, 4, 5, 6, 7)
        let laneBit = SIMD8<Int64>(1, 2, 4, 8, 16, 32, 64, 128)
        let minVectorLanes = 3
        let pk = packed
        stageEnd.withUnsafeBufferPointer { ends in
            stageThreshold.withUnsafeBufferPointer { sthr in
                for r in rowRange {
                    let y = r * step
                    let nPos = (cols + step - 1) / step
                    var skipNext = false
                    var k = 0
                    while k < nPos {
                        let g = min(8, nPos - k)
                        let x0 = k * step
                        let base = y * stride + x0
                        let ps = sum + base, pq = sq + base
                        let s4 = FlatCascade.load8(ps + n0, step) &- FlatCascade.load8(ps + n1, step)
                            &- FlatCascade.load8(ps + n2, step) &+ FlatCascade.load8(ps + n3, step)
                        let q4 = FlatCascade.load8(pq + n0, step) &- FlatCascade.load8(pq + n1, step)
                            &- FlatCascade.load8(pq + n2, step) &+ FlatCascade.load8(pq + n3, step)
                        let valsum = SIMD8<Double>(SIMD8<Int32>(truncatingIfNeeded: s4))
                        let nf = area * SIMD8<Double>(q4) - valsum * valsum
                        let vnf = SIMD8<Float>(1.0 / nf.squareRoot())
                        var alive = (nf .> 0) .& (area * SIMD8<Double>(vnf) .< 0.1) .& (laneIndex .< Int64(g))
                        // First stage for every lane, then the skip rule in scan order.
                        var tmp = FlatCascade.stageSum8(ps, step, vnf, pk, 0, ends[0])
                        let fail0 = alive .& (tmp .< sthr[0])
                        var evaluated: Int64 = 0
                        for l in 0..<g {
                            if skipNext { skipNext = false; continue }
                            evaluated |= 1 << Int64(l)
                            skipNext = fail0[l]
                        }
                        alive = alive .& .!fail0 .& ((laneBit & evaluated) .!= 0)
                        var si = 1
                        var lanes = SIMD8<Int64>(repeating: 0).replacing(with: 1, where: alive).wrappedSum()
                        while si < nStages && lanes >= minVectorLanes {
                            tmp = FlatCascade.stageSum8(ps, step, vnf, pk, ends[si - 1], ends[si])
                            alive = alive .& .!(tmp .< sthr[si])
                            lanes = SIMD8<Int64>(repeating: 0).replacing(with: 1, where: alive).wrappedSum()
                            si += 1
                        }
                        if lanes > 0 {
                            for l in 0..<g where alive[l] {
                                if si == nStages {
                                    hit(x0 + l * step, y)
                                } else if evalStumps(ps + l * step, vnf[l], pk, ends, sthr,
                                                     firstStage: si, firstStump: ends[si - 1]) > 0 {
                                    hit(x0 + l * step, y)
                                }
                            }
                        }
                        k += g
                    }
                }
            }
        }
    }

    /// predictOrdered for general trees.
    private func evalTrees(_ p: UnsafePointer<UInt32>, _ vnf: Float, _ pk: UnsafePointer<PackedStump>,
                           _ ends: UnsafeBufferPointer<Int>, _ sthr: UnsafeBufferPointer<Double>) -> Int {
        var t = 0
        for si in 0..<ends.count {
            var sum = 0.0
            while t < ends[si] {
                let root = treeNodeStart[t]
                var idx = 0
                repeat {
                    let s = pk + root + idx
                    let value = FlatCascade.feature(p, s) * vnf
                    idx = value < s.pointee.threshold ? nodeLeft[root + idx] : nodeRight[root + idx]
                } while idx > 0
                sum += Double(leaves[treeLeafStart[t] - idx])
                t += 1
            }
            if sum < sthr[si] { return -si }
        }
        return 1
    }
}
