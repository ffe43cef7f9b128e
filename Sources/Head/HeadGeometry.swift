// The head mesh, built in code from the SDF of HeadShape.swift.
//
// Skin. One closed surface of sphere topology sampled on a latitude–longitude grid of rays from
// a point inside the head (a star-shaped surface: every ray leaves the head once). Rows are laid
// out in anatomical zones (crown, forehead, upper lids, lower lids, nose, upper lip, chin, neck)
// whose boundaries are lines of constant height, so rows bend round the eyes and mouth. The
// palpebral fissures and the mouth slit are *pockets*: bands of rows that, inside the slit, leave
// the surface at the lid margin (or lip) and go into the head — behind the eyeball for the eyes,
// round the teeth into the oral cavity for the mouth — and come back out at the lower margin.
// Outside the slits the same rows run as a sub-millimetre band along the surface. The surface
// therefore stays one closed 2-manifold while the eyes can close and the mouth can open.
//
// Eyeballs, ears and the two dental arches are separate closed meshes (lat–long spheres and a
// bent box) that the skin partly hides. Everything is in millimetres here; ``HeadModel`` stores
// metres.

import Foundation

/// What a vertex belongs to.
enum HeadPart: UInt8, Sendable {
    case skin = 0, eyeRight, eyeLeft, earRight, earLeft, teethUpper, teethLower
}

/// How a triangle is shaded.
enum HeadMaterial: UInt8, Sendable {
    case skin = 0, eye, teeth, ear
}

/// Row roles of the skin grid.
enum SkinRow: Equatable, Sendable {
    case pole
    case surface          // an ordinary row on the surface
    case eyeBand(Int)     // 0 = upper lid margin … eyeBandRows−1 = lower lid margin
    case mouthBand(Int)   // 0 = upper lip contact … mouthBandRows−1 = lower lip contact
}

/// Layout of the skin grid: rows (top pole … bottom pole) × columns (azimuth, wrapping).
struct SkinGrid: Sendable {
    let rows: Int
    let columns: Int
    let rowKinds: [SkinRow]
    /// Azimuth of every column (radians).
    let theta: [Float]
    static let eyeBandRows = 7
    static let mouthBandRows = 15

    /// Vertex index of (row, column); the poles have one vertex each.
    @inline(__always)
    func vertex(_ r: Int, _ c: Int) -> Int {
        if r == 0 { return 0 }
        if r == rows - 1 { return 1 + (rows - 2) * columns }
        return 1 + (r - 1) * columns + ((c % columns) + columns) % columns
    }

    var vertexCount: Int { 2 + (rows - 2) * columns }

    /// Index of the first row of the eye band and of the mouth band.
    var eyeBandStart: Int { rowKinds.firstIndex(of: .eyeBand(0))! }
    var mouthBandStart: Int { rowKinds.firstIndex(of: .mouthBand(0))! }
}

/// Per-vertex rig data used by the expression model.
struct VertexRig: Sendable {
    /// Jaw rotation weight (0 = skull, 1 = mandible).
    var jaw: Float = 0
    /// Upper / lower eyelid weights and the eye (−1 right, +1 left, 0 none).
    var lidUpper: Float = 0
    var lidLower: Float = 0
    var lidSide: Int8 = 0
    /// The angle (radians, about the eye centre's x axis) that closes this column's fissure.
    var lidClose: Float = 0
}

/// The neutral mesh with its rig, in millimetres.
struct HeadMeshData: Sendable {
    var positions: [SIMD3<Float>] = []
    var parts: [HeadPart] = []
    var rig: [VertexRig] = []
    var triangles: [SIMD3<Int32>] = []
    var materials: [HeadMaterial] = []
    /// Texture coordinates per triangle corner (3 per triangle): atlas (u, v) in [0,1] for skin,
    /// eye-plane coordinates for eyes, (arch position, height) for teeth, (u, v) for ears.
    var cornerUV: [SIMD2<Float>] = []
    var grid: SkinGrid! = nil
    /// Range of vertex indices of each part.
    var partRanges: [HeadPart: Range<Int>] = [:]
    /// The lip contact line sampled across the mouth (used for the teeth): s ∈ [−1, 1] → point.
    var mouthLine: [SIMD3<Float>] = []
}

@inline(__always)
func smoothstep(_ e0: Float, _ e1: Float, _ x: Float) -> Float {
    let t = min(max((x - e0) / (e1 - e0), 0), 1)
    return t * t * (3 - 2 * t)
}

@inline(__always)
func mix(_ a: SIMD3<Float>, _ b: SIMD3<Float>, _ t: Float) -> SIMD3<Float> { a + (b - a) * t }

@inline(__always)
func length(_ v: SIMD3<Float>) -> Float { (v * v).sum().squareRoot() }

@inline(__always)
func normalize(_ v: SIMD3<Float>) -> SIMD3<Float> {
    let l = length(v)
    return l > 0 ? v / l : SIMD3(0, 0, -1)
}

@inline(__always)
func dot(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> Float { (a * b).sum() }

@inline(__always)
func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

/// Builds ``HeadMeshData``.
enum HeadMeshBuilder {
    static let degree = Float.pi / 180

    // MARK: Zones

    /// Row plan: (kind, zone boundary or interpolation recipe).
    enum RowRecipe {
        case topPole, bottomPole
        case line(Float)                    // constant height y (mm)
        case between(Int, Int, Float)       // interpolate elevation between two rows (indices)
        case eyeMargin(upper: Bool)
        case eyePocket(Int)
        case mouthMargin(upper: Bool)
        case mouthPocket(Int)
        case elevation(Float)               // fixed elevation (radians)
    }

    static func rowPlan() -> [RowRecipe] {
        var plan: [RowRecipe] = [.topPole]
        func addBetween(_ count: Int, to end: RowRecipe) {
            let start = plan.count - 1
            let endIndex = start + count
            for k in 1..<count { plan.append(.between(start, endIndex, Float(k) / Float(count))) }
            plan.append(end)
        }
        // Crown: from the pole to the hairline height, interpolated in elevation.
        addBetween(16, to: .line(-62))
        addBetween(17, to: .line(-15))                 // forehead and brows
        addBetween(8, to: .eyeMargin(upper: true))     // upper lid
        for k in 1..<(SkinGrid.eyeBandRows - 1) { plan.append(.eyePocket(k)) }
        plan.append(.eyeMargin(upper: false))
        addBetween(10, to: .line(22))                  // lower lid, cheeks
        addBetween(12, to: .line(55))                  // nose
        addBetween(8, to: .mouthMargin(upper: true))   // upper lip
        for k in 1..<(SkinGrid.mouthBandRows - 1) { plan.append(.mouthPocket(k)) }
        plan.append(.mouthMargin(upper: false))
        addBetween(18, to: .line(121))                 // lower lip, chin
        addBetween(15, to: .bottomPole)                // under the chin, neck
        return plan
    }

    static func rowKinds(_ plan: [RowRecipe]) -> [SkinRow] {
        plan.map { r -> SkinRow in
            switch r {
            case .topPole, .bottomPole: return .pole
            case .eyeMargin(let upper): return .eyeBand(upper ? 0 : SkinGrid.eyeBandRows - 1)
            case .eyePocket(let k): return .eyeBand(k)
            case .mouthMargin(let upper): return .mouthBand(upper ? 0 : SkinGrid.mouthBandRows - 1)
            case .mouthPocket(let k): return .mouthBand(k)
            default: return .surface
            }
        }
    }

    /// Column azimuths: about 1° apart over the face, coarser round the back.
    static func columnAngles(count: Int) -> [Float] {
        // Spacing density: 1 in front (|θ| < 45°), 4.5 behind (|θ| > 95°), smooth in between.
        let samples = 4096
        var cumulative = [Double](repeating: 0, count: samples + 1)
        for i in 0..<samples {
            let th = -Double.pi + 2 * Double.pi * (Double(i) + 0.5) / Double(samples)
            let a = abs(th) * 180 / Double.pi
            let t = min(max((a - 45) / 50, 0), 1)
            let spacing = 1 + 3.5 * t * t * (3 - 2 * t)
            cumulative[i + 1] = cumulative[i] + 1 / spacing
        }
        let total = cumulative[samples]
        // Column 0 at θ = 0 (the midline), symmetric layout.
        var thetas = [Float](repeating: 0, count: count)
        let half = cumulative[samples / 2]
        for c in 0..<count {
            var target = half + total * Double(c) / Double(count)
            if target >= total { target -= total }
            var lo = 0, hi = samples
            while hi - lo > 1 {
                let mid = (lo + hi) / 2
                if cumulative[mid] <= target { lo = mid } else { hi = mid }
            }
            let f = (target - cumulative[lo]) / max(cumulative[lo + 1] - cumulative[lo], 1e-12)
            var th = -Double.pi + 2 * Double.pi * (Double(lo) + f) / Double(samples)
            if th >= Double.pi { th -= 2 * Double.pi }
            thetas[c] = Float(th)
        }
        // Exact symmetry: θ(C − c) = −θ(c).
        for c in 1..<(count / 2) { thetas[count - c] = -thetas[c] }
        thetas[0] = 0
        thetas[count / 2] = -Float.pi
        return thetas
    }

    // MARK: Eye and mouth slits

    struct EyeSlit {
        let thetaInner: Float
        let thetaOuter: Float
        /// Slit coordinate s ∈ [0, 1] (inner → outer corner) for a column, or nil outside.
        func s(_ theta: Float) -> Float? {
            let a = abs(theta)
            guard a > thetaInner && a < thetaOuter else { return nil }
            return (a - thetaInner) / (thetaOuter - thetaInner)
        }
    }

    static let bandHalfWidth: Float = 0.3   // mm, the collapsed pocket outside the slits

    static func eyeSlit() -> EyeSlit {
        // Azimuths of the canthi on the surface (their depth from the lid sphere / socket).
        let inner = HeadShape.angles(of: SIMD3(Anatomy.innerCornerX, Anatomy.innerCornerY, -76))
        let outer = HeadShape.angles(of: SIMD3(Anatomy.outerCornerX, Anatomy.outerCornerY, -63))
        return EyeSlit(thetaInner: inner.theta, thetaOuter: outer.theta)
    }

    @inline(__always)
    static func lidBump(_ s: Float) -> Float { Float(pow(Double(max(4 * s * (1 - s), 0)), 0.75)) }

    /// Target heights (mm) of the upper and lower lid margins for a column.
    static func eyeMarginY(theta: Float, slit: EyeSlit) -> (upper: Float, lower: Float, open: Float) {
        if let s = slit.s(theta) {
            let corner = Anatomy.innerCornerY + (Anatomy.outerCornerY - Anatomy.innerCornerY) * s
            let b = lidBump(s)
            // Upper lid apex slightly toward the inner side.
            let bu = lidBump(Float(pow(Double(s), 1.1)))
            let open = smoothstep(0, 0.1, s) * smoothstep(0, 0.1, 1 - s)
            return (corner - bandHalfWidth * (1 - bu) - Anatomy.upperLidHeight * bu,
                    corner + bandHalfWidth * (1 - b) + Anatomy.lowerLidHeight * b, open)
        }
        let line = abs(theta) <= slit.thetaInner ? Anatomy.innerCornerY : Anatomy.outerCornerY
        return (line - bandHalfWidth, line + bandHalfWidth, 0)
    }

    static func mouthHalfAngle() -> Float {
        HeadShape.angles(of: SIMD3(Anatomy.mouthHalfWidth, Anatomy.mouthCornerY, -84)).theta
    }

    /// Lip contact height across the mouth, s ∈ [−1, 1].
    static func mouthY(_ s: Float) -> Float {
        Anatomy.mouthY + (Anatomy.mouthCornerY - Anatomy.mouthY) * s * s
    }

    /// Depth factor of the oral pocket across the mouth: 1 in the middle, 0 at the corners.
    static func mouthDepth(_ s: Float) -> Float {
        Float(pow(Double(max(1 - s * s, 0)), 0.3))
    }

    /// Path of the oral pocket (Δy, Δz) in mm relative to the lip contact point, midline.
    /// Rows 1…13 of the mouth band; upper sheet first (inner lip, vestibule, over the upper
    /// teeth, palate), the throat at row 7, then the tongue, under the lower teeth, the lower
    /// vestibule and the inner lower lip.
    static let mouthPocketPath: [SIMD2<Float>] = [
        SIMD2(0, 0),
        SIMD2(-0.6, 2.2), SIMD2(-4, 4.4), SIMD2(-10, 5.0), SIMD2(-14, 8), SIMD2(-11, 16), SIMD2(-5, 29),
        SIMD2(3, 44),
        SIMD2(7, 30), SIMD2(5, 19), SIMD2(13, 16.5), SIMD2(13, 7.5), SIMD2(4, 4.6), SIMD2(0.6, 2.2),
        SIMD2(0, 0),
    ]

    // MARK: Build

    static func build(columns: Int = 176) -> HeadMeshData {
        let plan = rowPlan()
        let kinds = rowKinds(plan)
        let thetas = columnAngles(count: columns)
        let grid = SkinGrid(rows: plan.count, columns: columns, rowKinds: kinds, theta: thetas)
        let slit = eyeSlit()
        let mouthHalf = mouthHalfAngle()
        var mesh = HeadMeshData()
        mesh.grid = grid

        // Per column: elevations of every row, then positions.
        var skin = [SIMD3<Float>](repeating: .zero, count: grid.vertexCount)
        var rig = [VertexRig](repeating: VertexRig(), count: grid.vertexCount)
        skin[0] = HeadShape.hit(theta: 0, phi: Float.pi / 2)
        skin[grid.vertex(grid.rows - 1, 0)] = HeadShape.hit(theta: 0, phi: -Float.pi / 2)

        let columnResults = UnsafeMutableBufferPointer<SIMD3<Float>>.allocate(capacity: columns * plan.count)
        defer { columnResults.deallocate() }
        let rigResults = UnsafeMutableBufferPointer<VertexRig>.allocate(capacity: columns * plan.count)
        rigResults.initialize(repeating: VertexRig())
        defer { rigResults.deallocate() }
        let out = UncheckedBox((columnResults, rigResults))
        // Columns are independent: build them in parallel (disjoint output ranges).
        DispatchQueue.concurrentPerform(iterations: columns) { c in
            let (pos, rg) = out.value
            let theta = thetas[c]
            var col = [SIMD3<Float>](repeating: .zero, count: plan.count)
            var colRig = [VertexRig](repeating: VertexRig(), count: plan.count)
            buildColumn(theta: theta, plan: plan, slit: slit, mouthHalf: mouthHalf, positions: &col, rig: &colRig)
            for r in 0..<plan.count {
                pos[c * plan.count + r] = col[r]
                rg[c * plan.count + r] = colRig[r]
            }
        }
        for c in 0..<columns {
            for r in 1..<(plan.count - 1) {
                skin[grid.vertex(r, c)] = columnResults[c * plan.count + r]
                rig[grid.vertex(r, c)] = rigResults[c * plan.count + r]
            }
        }
        mesh.positions = skin
        mesh.rig = rig
        mesh.parts = [HeadPart](repeating: .skin, count: skin.count)
        mesh.partRanges[.skin] = 0..<skin.count

        // Skin triangles and atlas coordinates: u = column / columns (the seam column gets
        // u = 1), v = row / (rows − 1).
        let rows = grid.rows
        func uv(_ r: Int, _ c: Int) -> SIMD2<Float> {
            SIMD2(Float(c) / Float(columns), Float(r) / Float(rows - 1))
        }
        for c in 0..<columns {
            // Top fan.
            mesh.addTriangle(0, grid.vertex(1, c), grid.vertex(1, c + 1), material: .skin,
                             uv: (SIMD2(Float(c) / Float(columns) + 0.5 / Float(columns), 0), uv(1, c), uv(1, c + 1)))
            // Bottom fan.
            mesh.addTriangle(grid.vertex(rows - 1, 0), grid.vertex(rows - 2, c + 1), grid.vertex(rows - 2, c), material: .skin,
                             uv: (SIMD2(Float(c) / Float(columns) + 0.5 / Float(columns), 1), uv(rows - 2, c + 1), uv(rows - 2, c)))
        }
        for r in 1..<(rows - 2) {
            for c in 0..<columns {
                let a = grid.vertex(r, c), b = grid.vertex(r, c + 1)
                let d = grid.vertex(r + 1, c), e = grid.vertex(r + 1, c + 1)
                // Outward orientation: rows go down, columns go toward +θ (to the subject's left).
                // The diagonal is mirrored on the right half (c ≥ columns/2, θ < 0) so that the
                // mesh is exactly left–right symmetric. The first triangle of each quad holds
                // the top edge a–b (used by ``SurfaceLocator/onRow``).
                if c < columns / 2 {
                    mesh.addTriangle(a, e, b, material: .skin, uv: (uv(r, c), uv(r + 1, c + 1), uv(r, c + 1)))
                    mesh.addTriangle(a, d, e, material: .skin, uv: (uv(r, c), uv(r + 1, c), uv(r + 1, c + 1)))
                } else {
                    mesh.addTriangle(a, d, b, material: .skin, uv: (uv(r, c), uv(r + 1, c), uv(r, c + 1)))
                    mesh.addTriangle(d, e, b, material: .skin, uv: (uv(r + 1, c), uv(r + 1, c + 1), uv(r, c + 1)))
                }
            }
        }

        // Lip contact line for the teeth.
        var line: [SIMD3<Float>] = []
        for i in 0...40 {
            let s = -1 + 2 * Float(i) / 40
            let th = s * mouthHalf
            line.append(HeadShape.hit(theta: th, phi: HeadShape.elevation(forY: mouthY(s), theta: th)))
        }
        mesh.mouthLine = line

        addEyes(&mesh)
        addEars(&mesh)
        addTeeth(&mesh)
        return mesh
    }

    /// Computes the positions of one column of the skin grid.
    static func buildColumn(theta: Float, plan: [RowRecipe], slit: EyeSlit, mouthHalf: Float,
                            positions: inout [SIMD3<Float>], rig: inout [VertexRig]) {
        var phi = [Float](repeating: .nan, count: plan.count)
        let margins = eyeMarginY(theta: theta, slit: slit)
        let eyeS = slit.s(theta)
        let side: Float = theta < 0 ? -1 : 1
        let mouthS = theta / mouthHalf
        let inMouth = abs(mouthS) < 1
        let q = inMouth ? mouthDepth(mouthS) : 0
        let contactY = inMouth ? mouthY(mouthS) : Anatomy.mouthCornerY
        let mouthUpperY = contactY - bandHalfWidth * (1 - q)
        let mouthLowerY = contactY + bandHalfWidth * (1 - q)

        // Pass 1: elevations of the rows that are on the surface and not interpolated.
        for (r, recipe) in plan.enumerated() {
            switch recipe {
            case .topPole: phi[r] = Float.pi / 2
            case .bottomPole: phi[r] = -Float.pi / 2
            case .line(let y): phi[r] = HeadShape.elevation(forY: y, theta: theta)
            case .eyeMargin(let upper):
                phi[r] = HeadShape.elevation(forY: upper ? margins.upper : margins.lower, theta: theta,
                                             bracket: -0.2...0.6)
            case .mouthMargin(let upper):
                phi[r] = HeadShape.elevation(forY: upper ? mouthUpperY : mouthLowerY, theta: theta,
                                             bracket: -1.0...0.2)
            case .elevation(let e): phi[r] = e
            default: break
            }
        }
        // Pass 2: interpolated rows.
        for (r, recipe) in plan.enumerated() {
            if case let .between(a, b, t) = recipe { phi[r] = phi[a] + (phi[b] - phi[a]) * t }
        }
        // Positions of surface rows.
        for (r, recipe) in plan.enumerated() {
            switch recipe {
            case .eyePocket, .mouthPocket: continue
            default: positions[r] = HeadShape.hit(theta: theta, phi: phi[r])
            }
        }
        // Eye pockets.
        let eyeUpperRow = plan.firstIndex { if case .eyeMargin(true) = $0 { return true }; return false }!
        let eyeLowerRow = eyeUpperRow + SkinGrid.eyeBandRows - 1
        let upper = positions[eyeUpperRow], lower = positions[eyeLowerRow]
        let e = Anatomy.eyeCentre(side: side)
        for k in 1..<(SkinGrid.eyeBandRows - 1) {
            let r = eyeUpperRow + k
            let t = Float(k) / Float(SkinGrid.eyeBandRows - 1)
            let onSurface = HeadShape.hit(theta: theta, phi: phi[eyeUpperRow] + (phi[eyeLowerRow] - phi[eyeUpperRow]) * t)
            if eyeS != nil && margins.open > 0 {
                let du = normalize(upper - e), dl = normalize(lower - e)
                let dir = normalize(du * (1 - t) + dl * t)
                let depth: Float = (k == 1 || k == SkinGrid.eyeBandRows - 2) ? Anatomy.eyeRadius - 0.5 : Anatomy.eyeRadius * 0.55
                let deep = e + dir * depth
                positions[r] = mix(onSurface, deep, margins.open)
            } else {
                positions[r] = onSurface
            }
        }
        // Mouth pocket.
        let mouthUpperRow = plan.firstIndex { if case .mouthMargin(true) = $0 { return true }; return false }!
        let mouthLowerRow = mouthUpperRow + SkinGrid.mouthBandRows - 1
        let contact = 0.5 * (positions[mouthUpperRow] + positions[mouthLowerRow])
        for k in 1..<(SkinGrid.mouthBandRows - 1) {
            let r = mouthUpperRow + k
            let t = Float(k) / Float(SkinGrid.mouthBandRows - 1)
            let band = HeadShape.hit(theta: theta, phi: phi[mouthUpperRow] + (phi[mouthLowerRow] - phi[mouthUpperRow]) * t)
            if inMouth && q > 0 {
                let o = mouthPocketPath[k]
                let narrow = 1 - 0.25 * o.y / 44
                let deep = SIMD3<Float>(contact.x * narrow, contact.y + o.x * q, contact.z + o.y * q)
                positions[r] = mix(band, deep, min(1, q * 3))
            } else {
                positions[r] = band
            }
        }

        // Rig: eyelids.
        if eyeS != nil {
            func elevationAboutEye(_ p: SIMD3<Float>) -> Float { atan2(-(p.y - e.y), -(p.z - e.z)) }
            let close = max(0, elevationAboutEye(upper) - elevationAboutEye(lower))
            let upperLidTop = plan.firstIndex { if case .line(-15) = $0 { return true }; return false }!
            let lowerLidBottom = plan.firstIndex { if case .line(22) = $0 { return true }; return false }!
            for r in upperLidTop...eyeLowerRow {
                var v = VertexRig()
                v.lidSide = Int8(side)
                v.lidClose = close
                if r <= eyeUpperRow {
                    // 1 at the margin, fading to 0 at the brow line.
                    let f = Float(r - upperLidTop) / Float(eyeUpperRow - upperLidTop)
                    v.lidUpper = smoothstep(0.25, 1, f)
                } else if r - eyeUpperRow <= (SkinGrid.eyeBandRows - 1) / 2 {
                    v.lidUpper = 1
                } else {
                    v.lidLower = 1
                }
                rig[r] = v
            }
            for r in (eyeLowerRow + 1)..<lowerLidBottom {
                var v = VertexRig()
                v.lidSide = Int8(side)
                v.lidClose = close
                let f = Float(r - eyeLowerRow) / Float(lowerLidBottom - eyeLowerRow)
                v.lidLower = 1 - smoothstep(0, 0.6, f)
                rig[r] = v
            }
        }

        // Rig: jaw. Inside the mouth slit the upper and lower sides are split by topology;
        // elsewhere the weight is a smooth function of height.
        let lateral = smoothstep(0.55, 1.0, abs(mouthS))
        for r in 0..<plan.count {
            let p = positions[r]
            let front = smoothstep(12, -22, p.z)
            let neck = 1 - smoothstep(128, 165, p.y)
            let spatial = smoothstep(contactY - 12, contactY + 32, p.y)
            var topo: Float
            if r < mouthUpperRow { topo = 0 }
            else if r > mouthLowerRow { topo = 1 }
            else {
                let k = r - mouthUpperRow
                topo = k < 7 ? 0 : (k == 7 ? 0.5 : 1)
            }
            if r > mouthLowerRow {
                // Lower face: full weight well below the lips, tapering toward the corners.
                topo = max(topo * (1 - smoothstep(0.6, 1.0, abs(mouthS)) * 0.7), spatial)
            }
            let w = (topo * (1 - lateral) + spatial * lateral) * front * neck
            rig[r].jaw = r == 0 || r == plan.count - 1 ? 0 : w
        }
    }
}

extension HeadMeshData {
    mutating func append(_ p: SIMD3<Float>, part: HeadPart) {
        positions.append(p)
        parts.append(part)
        rig.append(VertexRig())
    }

    mutating func addTriangle(_ a: Int, _ b: Int, _ c: Int, material: HeadMaterial,
                              uv: (SIMD2<Float>, SIMD2<Float>, SIMD2<Float>)) {
        triangles.append(SIMD3(Int32(a), Int32(b), Int32(c)))
        materials.append(material)
        cornerUV.append(uv.0)
        cornerUV.append(uv.1)
        cornerUV.append(uv.2)
    }
}

/// Carries buffers into `concurrentPerform` workers that write disjoint ranges.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
