// Raster drawing (Bresenham 1965 lines, Xiaolin Wu 1991 anti-aliased lines, scanline polygon
// fill with even-odd / non-zero rules as in the SVG/PostScript fill rules) and image grids.
// Pixel centres are at integer coordinates (ARCHITECTURE.md §9): pixel (x, y) covers
// [x−½, x+½) × [y−½, y+½). Everything outside the image is clipped silently.

import Foundation

/// Which pixels a self-intersecting polygon covers (SVG `fill-rule`).
public enum FillRule: Sendable, Equatable {
    /// A pixel is inside if a ray from it crosses the outline an odd number of times.
    case evenOdd
    /// A pixel is inside if the outline winds around it a non-zero number of times.
    case nonZero
}

extension Image {
    /// Adapts a colour to this image's channel count: equal counts are used as given, one value is
    /// broadcast, RGB on an RGBA image gets alpha 1, RGB(A) on a gray image becomes its luma.
    public func resolvedColor(_ color: [Float]) -> [Float] {
        if color.count == channels { return color }
        switch (color.count, channels) {
        case (1, _): return [Float](repeating: color[0], count: channels)
        case (3, 4): return color + [1]
        case (4, 3): return Array(color[0..<3])
        case (3, 1), (4, 1): return [0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]]
        default: preconditionFailure("colour with \(color.count) values for a \(channels)-channel image")
        }
    }

    /// Sets pixel `(x, y)` to `color` blended with coverage `alpha` (no-op outside the image).
    @inlinable
    public mutating func plot(x: Int, y: Int, color: [Float], alpha: Float = 1) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let n = width * height, i = y * width + x
        pixels.withUnsafeMutableBufferPointer { p in
            if alpha >= 1 {
                for c in 0..<color.count { p[c * n + i] = color[c] }
            } else if alpha > 0 {
                for c in 0..<color.count { p[c * n + i] += alpha * (color[c] - p[c * n + i]) }
            }
        }
    }

    /// Fills pixels `x0...x1` of row `y` (clipped).
    mutating func fillSpan(y: Int, x0: Int, x1: Int, color: [Float]) {
        guard y >= 0, y < height else { return }
        let a = max(x0, 0), b = min(x1, width - 1)
        guard a <= b else { return }
        let n = width * height
        pixels.withUnsafeMutableBufferPointer { p in
            for c in 0..<color.count {
                let v = color[c], base = c * n + y * width
                for x in a...b { p[base + x] = v }
            }
        }
    }

    // MARK: Points, lines

    /// Draws points: `radius` 0 sets the nearest pixel, otherwise a filled disc.
    public mutating func drawPoints(_ points: [SIMD2<Double>], color: [Float], radius: Double = 1) {
        let col = resolvedColor(color)
        for p in points {
            if radius <= 0 {
                guard p.x.isFinite, p.y.isFinite, abs(p.x) < 1e9, abs(p.y) < 1e9 else { continue }
                plot(x: Int(p.x.rounded()), y: Int(p.y.rounded()), color: col)
            } else {
                drawCircle(center: p, radius: radius, color: col, filled: true)
            }
        }
    }

    /// Draws a line segment. `thickness` 1 uses Bresenham (or Wu's anti-aliased algorithm when
    /// `antialiased`); thicker lines are filled rectangles with round caps.
    public mutating func drawLine(from p0: SIMD2<Double>, to p1: SIMD2<Double>, color: [Float],
                                  thickness: Double = 1, antialiased: Bool = false) {
        let col = resolvedColor(color)
        if thickness > 1 {
            let d = p1 - p0
            let len = (d.x * d.x + d.y * d.y).squareRoot()
            let r = thickness / 2
            if len > 0 {
                let nrm = SIMD2(-d.y, d.x) * (r / len)
                fillPolygon([p0 + nrm, p1 + nrm, p1 - nrm, p0 - nrm], color: col, rule: .nonZero)
            }
            drawCircle(center: p0, radius: r, color: col, filled: true)
            drawCircle(center: p1, radius: r, color: col, filled: true)
            return
        }
        // Clip to a margin around the image so that far-away endpoints cost nothing.
        guard let (a, b) = clipSegment(p0, p1,
                                       lo: SIMD2(-2, -2),
                                       hi: SIMD2(Double(width + 1), Double(height + 1))) else { return }
        if antialiased { wuLine(a, b, col) } else { bresenham(a, b, col) }
    }

    /// Draws consecutive segments through `points` (closing the loop if `closed`).
    public mutating func drawPolyline(_ points: [SIMD2<Double>], closed: Bool = false, color: [Float],
                                      thickness: Double = 1, antialiased: Bool = false) {
        guard points.count >= 2 else {
            if let p = points.first { drawPoints([p], color: color, radius: 0) }
            return
        }
        for i in 0..<(points.count - 1) {
            drawLine(from: points[i], to: points[i + 1], color: color, thickness: thickness,
                     antialiased: antialiased)
        }
        if closed {
            drawLine(from: points[points.count - 1], to: points[0], color: color,
                     thickness: thickness, antialiased: antialiased)
        }
    }

    /// Liang–Barsky clipping of a segment to the box `lo…hi`; nil if nothing is inside.
    func clipSegment(_ p0: SIMD2<Double>, _ p1: SIMD2<Double>, lo: SIMD2<Double>, hi: SIMD2<Double>)
        -> (SIMD2<Double>, SIMD2<Double>)?
    {
        guard p0.x.isFinite, p0.y.isFinite, p1.x.isFinite, p1.y.isFinite else { return nil }
        var t0 = 0.0, t1 = 1.0
        let d = p1 - p0
        let tests: [(Double, Double)] = [(-d.x, p0.x - lo.x), (d.x, hi.x - p0.x),
                                         (-d.y, p0.y - lo.y), (d.y, hi.y - p0.y)]
        for (p, q) in tests {
            if p == 0 {
                if q < 0 { return nil }
            } else {
                let r = q / p
                if p < 0 { if r > t1 { return nil }; if r > t0 { t0 = r } }
                else { if r < t0 { return nil }; if r < t1 { t1 = r } }
            }
        }
        return (p0 + t0 * d, p0 + t1 * d)
    }

    mutating func bresenham(_ a: SIMD2<Double>, _ b: SIMD2<Double>, _ col: [Float]) {
        var x0 = Int(a.x.rounded()), y0 = Int(a.y.rounded())
        let x1 = Int(b.x.rounded()), y1 = Int(b.y.rounded())
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            plot(x: x0, y: y0, color: col)
            if x0 == x1 && y0 == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x0 += sx }
            if e2 <= dx { err += dx; y0 += sy }
        }
    }

    /// Xiaolin Wu's anti-aliased line: two pixels per step weighted by distance to the line.
    mutating func wuLine(_ a: SIMD2<Double>, _ b: SIMD2<Double>, _ col: [Float]) {
        var x0 = a.x, y0 = a.y, x1 = b.x, y1 = b.y
        let steep = abs(y1 - y0) > abs(x1 - x0)
        if steep { swap(&x0, &y0); swap(&x1, &y1) }
        if x0 > x1 { swap(&x0, &x1); swap(&y0, &y1) }
        let dx = x1 - x0, dy = y1 - y0
        let gradient = dx == 0 ? 1 : dy / dx
        func put(_ x: Int, _ y: Int, _ c: Double) {
            if steep { plot(x: y, y: x, color: col, alpha: Float(c)) }
            else { plot(x: x, y: y, color: col, alpha: Float(c)) }
        }
        func fpart(_ v: Double) -> Double { v - v.rounded(.down) }
        // First endpoint.
        var xend = x0.rounded()
        var yend = y0 + gradient * (xend - x0)
        var xgap = 1 - fpart(x0 + 0.5)
        let xpxl1 = Int(xend)
        var ypxl = Int(yend.rounded(.down))
        put(xpxl1, ypxl, (1 - fpart(yend)) * xgap)
        put(xpxl1, ypxl + 1, fpart(yend) * xgap)
        var intery = yend + gradient
        // Second endpoint.
        xend = x1.rounded()
        yend = y1 + gradient * (xend - x1)
        xgap = fpart(x1 + 0.5)
        let xpxl2 = Int(xend)
        ypxl = Int(yend.rounded(.down))
        put(xpxl2, ypxl, (1 - fpart(yend)) * xgap)
        put(xpxl2, ypxl + 1, fpart(yend) * xgap)
        if xpxl2 - xpxl1 > 1 {
            for x in (xpxl1 + 1)..<xpxl2 {
                let iy = Int(intery.rounded(.down))
                put(x, iy, 1 - fpart(intery))
                put(x, iy + 1, fpart(intery))
                intery += gradient
            }
        }
    }

    // MARK: Filled shapes

    /// Fills a polygon by scanlines through pixel centres: pixel `(x, y)` is set when its centre
    /// is inside under `rule` (a centre exactly on a left/top edge counts as inside, on a
    /// right/bottom edge as outside, so adjacent polygons do not overlap).
    public mutating func fillPolygon(_ points: [SIMD2<Double>], color: [Float],
                                     rule: FillRule = .evenOdd) {
        let col = resolvedColor(color)
        guard points.count >= 3, width > 0, height > 0 else { return }
        guard points.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) else { return }
        let ys = points.map(\.y)
        let yStart = max(0, Int(ys.min()!.rounded(.up)))
        let yEnd = min(height - 1, Int(min(ys.max()!, 1e9).rounded(.down)))
        guard yStart <= yEnd else { return }
        var crossings: [(x: Double, dir: Int)] = []
        crossings.reserveCapacity(points.count)
        for y in yStart...yEnd {
            let fy = Double(y)
            crossings.removeAll(keepingCapacity: true)
            for i in 0..<points.count {
                let p = points[i], q = points[(i + 1) % points.count]
                if (p.y <= fy && fy < q.y) || (q.y <= fy && fy < p.y) {
                    let x = p.x + (fy - p.y) * (q.x - p.x) / (q.y - p.y)
                    crossings.append((x, q.y > p.y ? 1 : -1))
                }
            }
            crossings.sort { $0.x < $1.x }
            switch rule {
            case .evenOdd:
                var k = 0
                while k + 1 < crossings.count {
                    fillCentres(y: y, from: crossings[k].x, to: crossings[k + 1].x, color: col)
                    k += 2
                }
            case .nonZero:
                var winding = 0
                var start = 0.0
                for c in crossings {
                    let before = winding
                    winding += c.dir
                    if before == 0 && winding != 0 {
                        start = c.x
                    } else if before != 0 && winding == 0 {
                        fillCentres(y: y, from: start, to: c.x, color: col)
                    }
                }
            }
        }
    }

    /// Fills the pixels of row `y` whose centres lie in `[a, b)`.
    mutating func fillCentres(y: Int, from a: Double, to b: Double, color: [Float]) {
        let lim = Double(width + 1)
        let x0 = Int(max(-1, min(a, lim)).rounded(.up))
        let x1 = Int(max(-1, min(b, lim)).rounded(.up)) - 1
        fillSpan(y: y, x0: x0, x1: x1, color: color)
    }

    /// Draws a circle: a filled disc (pixel centres within `radius`) or a ring of the given
    /// `thickness` (centres with distance in `[radius − t/2, radius + t/2]`).
    public mutating func drawCircle(center: SIMD2<Double>, radius: Double, color: [Float],
                                    filled: Bool = false, thickness: Double = 1) {
        let col = resolvedColor(color)
        guard center.x.isFinite, center.y.isFinite, radius >= 0, radius < 1e7 else { return }
        let outer = filled ? radius : radius + thickness / 2
        let inner = filled ? -1 : max(0, radius - thickness / 2)
        let yStart = max(0, Int((center.y - outer).rounded(.up)))
        let yEnd = min(height - 1, Int((center.y + outer).rounded(.down)))
        guard yStart <= yEnd else { return }
        let o2 = outer * outer, i2 = inner < 0 ? -1 : inner * inner
        for y in yStart...yEnd {
            let dy = Double(y) - center.y
            let rem = o2 - dy * dy
            if rem < 0 { continue }
            let half = rem.squareRoot()
            let xa = Int((center.x - half).rounded(.up)), xb = Int((center.x + half).rounded(.down))
            if i2 < 0 || dy * dy >= i2 {
                fillSpan(y: y, x0: xa, x1: xb, color: col)
            } else {
                let ih = (i2 - dy * dy).squareRoot()
                // Ring: exclude centres strictly inside the inner radius.
                let ia = Int((center.x - ih).rounded(.down)), ib = Int((center.x + ih).rounded(.up))
                fillSpan(y: y, x0: xa, x1: min(xb, ia), color: col)
                fillSpan(y: y, x0: max(xa, ib), x1: xb, color: col)
            }
        }
    }

    /// Draws the rectangle with inclusive integer corners `(x0, y0)`–`(x1, y1)`, filled or as a
    /// one-pixel outline.
    public mutating func drawRectangle(x0: Int, y0: Int, x1: Int, y1: Int, color: [Float],
                                       filled: Bool = false) {
        let col = resolvedColor(color)
        let xa = min(x0, x1), xb = max(x0, x1), ya = min(y0, y1), yb = max(y0, y1)
        if filled {
            let ys = max(ya, 0), ye = min(yb, height - 1)
            if ys <= ye { for y in ys...ye { fillSpan(y: y, x0: xa, x1: xb, color: col) } }
        } else {
            fillSpan(y: ya, x0: xa, x1: xb, color: col)
            fillSpan(y: yb, x0: xa, x1: xb, color: col)
            let ys = max(ya + 1, 0), ye = min(yb - 1, height - 1)
            if ys <= ye {
                for y in ys...ye {
                    plot(x: xa, y: y, color: col)
                    plot(x: xb, y: y, color: col)
                }
            }
        }
    }

    // MARK: Composition

    /// Copies `other` (converted to this channel count) with its top-left corner at `(x, y)`,
    /// clipped to this image.
    public mutating func paste(_ other: Image, x: Int, y: Int) {
        let src = other.converted(toChannels: channels)
        let xa = max(0, x), xb = min(width, x + src.width)
        let ya = max(0, y), yb = min(height, y + src.height)
        guard xa < xb, ya < yb else { return }
        let n = planeSize, sn = src.planeSize
        pixels.withUnsafeMutableBufferPointer { d in
            src.pixels.withUnsafeBufferPointer { s in
                for c in 0..<channels {
                    for yy in ya..<yb {
                        let drow = c * n + yy * width, srow = c * sn + (yy - y) * src.width
                        for xx in xa..<xb { d[drow + xx] = s[srow + xx - x] }
                    }
                }
            }
        }
    }

    /// Composes `images` (rows of cells) into one image. Column widths and row heights are the
    /// largest in that column/row; smaller images sit at the top-left of their cell and the rest,
    /// the `padding` between cells, the `margin` around the grid and missing cells of short rows
    /// are `background`. All images are converted to the largest channel count present
    /// (gray → RGB → RGBA with alpha 1). An empty grid gives a 0×0 gray image.
    public static func grid(_ images: [[Image]], padding: Int = 0, margin: Int = 0,
                            background: [Float] = [0]) -> Image {
        precondition(padding >= 0 && margin >= 0, "grid: padding and margin must be >= 0")
        let cols = images.map(\.count).max() ?? 0
        guard !images.isEmpty, cols > 0 else { return Image(width: 0, height: 0, channels: 1) }
        let ch = images.flatMap { $0 }.map(\.channels).max()!
        var colW = [Int](repeating: 0, count: cols)
        var rowH = [Int](repeating: 0, count: images.count)
        for (r, row) in images.enumerated() {
            for (c, im) in row.enumerated() {
                colW[c] = max(colW[c], im.width)
                rowH[r] = max(rowH[r], im.height)
            }
        }
        let totalW = colW.reduce(0, +) + padding * (cols - 1) + 2 * margin
        let totalH = rowH.reduce(0, +) + padding * (images.count - 1) + 2 * margin
        var out = Image(width: totalW, height: totalH, channels: ch)
        let bg = out.resolvedColor(background)
        for c in 0..<ch {
            let v = bg[c]
            if v != 0 { for i in (c * out.planeSize)..<((c + 1) * out.planeSize) { out.pixels[i] = v } }
        }
        var y = margin
        for (r, row) in images.enumerated() {
            var x = margin
            for (c, im) in row.enumerated() {
                out.paste(im, x: x, y: y)
                x += colW[c] + padding
            }
            y += rowH[r] + padding
        }
        return out
    }

    /// Side-by-side concatenation (one grid row) with `padding` between images.
    public static func hconcat(_ images: [Image], padding: Int = 0, background: [Float] = [0]) -> Image {
        grid([images], padding: padding, background: background)
    }

    /// Top-to-bottom concatenation (one grid column) with `padding` between images.
    public static func vconcat(_ images: [Image], padding: Int = 0, background: [Float] = [0]) -> Image {
        grid(images.map { [$0] }, padding: padding, background: background)
    }
}
