// The 68 iBUG 300-W landmarks (Sagonas et al. 2013) on the head surface.
//
// Points 17–67 are fixed surface points. Where a point is defined by topology it sits exactly on
// a feature of the mesh: eye corners at the ends of the palpebral fissures, lid points on the
// lid margins, inner lip points on the lip contact margins, mouth corners at the ends of the
// oral slit. The others (brows, nose, outer lip border) are the surface points whose frontal
// projection is the iBUG mean face of dlib's model (160 mm per unit of its box), which is also
// where the brows and the vermilion border are painted (``FaceFeatures``).
//
// The jaw points 0–16 follow the visible face contour: each has a curve on the surface (the
// section of the head by a plane through the face's vertical axis, from the cheek round to the
// ear or under the chin), and the landmark is the point of that curve that projects outermost
// along the curve's outward image direction — the silhouette point when the contour is an
// occluding contour (Zhu et al., "Face Alignment Across Large Poses", CVPR 2015, "landmark
// marching"). The search stops where hair begins, so the contour follows the face, not the hair.

import Foundation

/// Feature curves shared by the landmark definitions and the texture painter (mm, head-local).
enum FaceFeatures {
    /// dlib's iBUG mean face: landmark `i` in mm, x from the midline, y from the outer eye
    /// corners' line (160 mm per unit of the normalised box).
    static func meanFace(_ s: [Float]) -> [SIMD2<Float>] {
        (0..<68).map { SIMD2((s[2 * $0] - 0.5) * 160, (s[2 * $0 + 1] - 0.31557) * 160) }
    }

    /// The brow landmarks (lateral distance, height) from the brow's head (iBUG 21/22) to its
    /// tail (17/26). Started from dlib's mean face and adjusted so that dlib's predictor reads
    /// the painted brow where these points are (brow annotation follows the brow's upper
    /// contour, which is a convention rather than an anatomical point).
    static let browPoints: [SIMD2<Float>] = [SIMD2(11.0, -15.8), SIMD2(22.0, -21.6), SIMD2(34.5, -24.6),
                                              SIMD2(47.0, -23.8), SIMD2(57.5, -17.8)]
    /// Lateral end of the painted brow.
    static var browEnd: Float { browPoints[4].x + 4 }

    /// Height (mm) of the brow landmark line at lateral distance `x`.
    static func browLine(_ x: Float) -> Float {
        var knots: [(Float, Float)] = [(6, -14.5)]
        for p in browPoints { knots.append((p.x, p.y)) }
        knots.append((browPoints[4].x + 8, browPoints[4].y + 6))
        for i in 0..<(knots.count - 1) where x <= knots[i + 1].0 {
            let t = (x - knots[i].0) / (knots[i + 1].0 - knots[i].0)
            let s = t * t * (3 - 2 * t) * 0.5 + t * 0.5
            return knots[i].1 + (knots[i + 1].1 - knots[i].1) * s
        }
        return knots[knots.count - 1].1
    }

    /// Upper vermilion border height (Cupid's bow) at lateral distance `x`.
    static func upperLipBorder(_ ax: Float) -> Float {
        let t = min(ax / Anatomy.mouthHalfWidth, 1)
        let bow = 65.0 - 1.6 * Float(exp(-Double((ax - 7.6) * (ax - 7.6) / 18))) + 0.6 * Float(exp(-Double(ax * ax / 6)))
        return bow + (Anatomy.mouthCornerY - 0.4 - bow) * smoothstep(0.55, 1.0, t)
    }

    /// Lower vermilion border height at lateral distance `x`.
    static func lowerLipBorder(_ ax: Float) -> Float {
        let t = min(ax / Anatomy.mouthHalfWidth, 1)
        return 81.5 - 2.0 * t * t + (Anatomy.mouthCornerY + 0.4 - 79.5) * smoothstep(0.6, 1.0, t)
    }

    /// Vermilion coverage at a neutral point.
    static func lipWeight(_ p: SIMD3<Float>) -> Float {
        let ax = abs(p.x)
        if ax > Anatomy.mouthHalfWidth + 2 || p.y < 55 || p.y > 90 || p.z > -70 { return 0 }
        let upper = upperLipBorder(ax), lower = lowerLipBorder(ax)
        let soft: Float = 0.7
        let inY = smoothstep(upper - soft, upper + soft, p.y) * (1 - smoothstep(lower - soft, lower + soft, p.y))
        let inX = 1 - smoothstep(Anatomy.mouthHalfWidth - 1, Anatomy.mouthHalfWidth + 1.5, ax)
        return inY * inX
    }
}

/// Landmark definitions on a mesh.
struct LandmarkSet: Sendable {
    /// Landmarks 17…67.
    var fixed: [SurfacePoint] = []
    /// Candidate curves of jaw landmarks 0…16, ordered from the face outward.
    var jawPaths: [[SurfacePoint]] = []
    /// Origin (head-local metres) and outward direction (head-local, unit) of each jaw curve.
    var jawOrigins: [SIMD3<Float>] = []
    var jawDirections: [SIMD3<Float>] = []
    /// Per hair style and jaw point: number of usable candidates (the curve stops at the hair).
    var jawLimits: [[Int]] = []

    static let jawSamples = 56

    /// iBUG mean shape of dlib's model (x0, y0, …) in its unit box, from
    /// shape_predictor_68_face_landmarks.dat (`initial_shape`).
    static let dlibMeanShape: [Float] = [
        0.029446, 0.321950, 0.032626, 0.446431, 0.045943, 0.570428, 0.071791, 0.692023, 0.120274, 0.804951,
        0.194731, 0.902886, 0.285819, 0.984597, 0.386310, 1.050212, 0.500003, 1.069708, 0.613697, 1.050210,
        0.714190, 0.984596, 0.805277, 0.902887, 0.879741, 0.804952, 0.928229, 0.692024, 0.954078, 0.570430,
        0.967397, 0.446431, 0.970579, 0.321947, 0.119182, 0.230909, 0.177509, 0.178388, 0.259835, 0.162735,
        0.345086, 0.174880, 0.424904, 0.208063, 0.575140, 0.208059, 0.654959, 0.174876, 0.740211, 0.162732,
        0.822538, 0.178384, 0.880866, 0.230908, 0.500021, 0.305547, 0.500017, 0.385739, 0.500016, 0.465222,
        0.500011, 0.547027, 0.404506, 0.602344, 0.450375, 0.619234, 0.500013, 0.633663, 0.549655, 0.619236,
        0.595526, 0.602348, 0.213870, 0.315571, 0.264750, 0.286316, 0.325858, 0.287176, 0.379375, 0.327564,
        0.322083, 0.337778, 0.261248, 0.336975, 0.620667, 0.327560, 0.674184, 0.287173, 0.735291, 0.286312,
        0.786169, 0.315570, 0.738790, 0.336972, 0.677958, 0.337776, 0.317107, 0.751117, 0.384429, 0.724204,
        0.452547, 0.710256, 0.500014, 0.721995, 0.547484, 0.710262, 0.615600, 0.724211, 0.682923, 0.751117,
        0.617772, 0.816892, 0.551586, 0.846004, 0.500013, 0.851504, 0.448439, 0.846000, 0.382257, 0.816887,
        0.345193, 0.754674, 0.451943, 0.749935, 0.500013, 0.755041, 0.548087, 0.749940, 0.654835, 0.754675,
        0.549021, 0.785685, 0.500015, 0.791599, 0.451010, 0.785681,
    ]

    init(mesh: HeadMeshData) {
        let locator = SurfaceLocator(mesh: mesh)
        let grid = mesh.grid!
        let slit = HeadMeshBuilder.eyeSlit()
        let mouthHalf = HeadMeshBuilder.mouthHalfAngle()
        let mean = FaceFeatures.meanFace(LandmarkSet.dlibMeanShape)
        let eyeRow = grid.eyeBandStart, mouthRow = grid.mouthBandStart
        let eyeMid = eyeRow + (SkinGrid.eyeBandRows - 1) / 2
        let eyeLow = eyeRow + SkinGrid.eyeBandRows - 1
        let mouthMid = mouthRow + (SkinGrid.mouthBandRows - 1) / 2
        let mouthLow = mouthRow + SkinGrid.mouthBandRows - 1
        func eyeTheta(_ side: Float, _ s: Float) -> Float { side * (slit.thetaInner + s * (slit.thetaOuter - slit.thetaInner)) }
        func front(_ i: Int) -> SurfacePoint {
            let m = mean[i]
            return locator.frontal(x: m.x, y: m.y)
        }
        func frontAt(_ x: Float, _ y: Float) -> SurfacePoint { locator.frontal(x: x, y: y) }

        var pts: [SurfacePoint] = []
        // 17–26 brows (on the painted brow line), 27–35 nose.
        for i in 17...26 {
            let b = FaceFeatures.browPoints[i <= 21 ? 4 - (i - 17) : i - 22]
            let x = i <= 21 ? -b.x : b.x
            pts.append(frontAt(x, b.y))
        }
        for i in 27...35 { pts.append(front(i)) }
        // 36–41 right eye (θ < 0), 42–47 left eye.
        pts.append(locator.onRow(eyeMid, theta: eyeTheta(-1, 1)))      // 36 outer corner
        pts.append(locator.onRow(eyeRow, theta: eyeTheta(-1, 0.70)))   // 37
        pts.append(locator.onRow(eyeRow, theta: eyeTheta(-1, 0.33)))   // 38
        pts.append(locator.onRow(eyeMid, theta: eyeTheta(-1, 0)))      // 39 inner corner
        pts.append(locator.onRow(eyeLow, theta: eyeTheta(-1, 0.33)))   // 40
        pts.append(locator.onRow(eyeLow, theta: eyeTheta(-1, 0.70)))   // 41
        pts.append(locator.onRow(eyeMid, theta: eyeTheta(1, 0)))       // 42 inner corner
        pts.append(locator.onRow(eyeRow, theta: eyeTheta(1, 0.33)))    // 43
        pts.append(locator.onRow(eyeRow, theta: eyeTheta(1, 0.70)))    // 44
        pts.append(locator.onRow(eyeMid, theta: eyeTheta(1, 1)))       // 45 outer corner
        pts.append(locator.onRow(eyeLow, theta: eyeTheta(1, 0.70)))    // 46
        pts.append(locator.onRow(eyeLow, theta: eyeTheta(1, 0.33)))    // 47
        // 48–59 outer lips: corners at the slit ends, borders on the painted vermilion border.
        pts.append(locator.onRow(mouthMid, theta: -mouthHalf))          // 48
        for i in 49...53 {
            let x = mean[i].x * 0.93
            pts.append(frontAt(x, FaceFeatures.upperLipBorder(abs(x)) + 0.3))
        }
        pts.append(locator.onRow(mouthMid, theta: mouthHalf))           // 54
        for i in 55...59 {
            let x = mean[i].x * 0.93
            pts.append(frontAt(x, FaceFeatures.lowerLipBorder(abs(x)) - 0.3))
        }
        // 60–67 inner lips: on the contact margins.
        pts.append(locator.onRow(mouthRow, theta: -0.88 * mouthHalf))   // 60
        pts.append(locator.onRow(mouthRow, theta: -0.30 * mouthHalf))   // 61
        pts.append(locator.onRow(mouthRow, theta: 0))                   // 62
        pts.append(locator.onRow(mouthRow, theta: 0.30 * mouthHalf))    // 63
        pts.append(locator.onRow(mouthRow, theta: 0.88 * mouthHalf))    // 64
        pts.append(locator.onRow(mouthLow, theta: 0.30 * mouthHalf))    // 65
        pts.append(locator.onRow(mouthLow, theta: 0))                   // 66
        pts.append(locator.onRow(mouthLow, theta: -0.30 * mouthHalf))   // 67
        fixed = pts

        // Jaw curves.
        let centreY: Float = 40
        for j in 0...16 {
            // The upper contour points sit higher in dlib's annotation convention (toward the
            // temple) than in the mean face's frontal projection of our head: shift the curves up.
            let k = min(j, 16 - j)   // 0 … 8 from the ear to the chin
            let lift: Float = [11, 7.5, 5, 3, 2, 0, 0, 0, 0][k]
            let m = mean[j] - SIMD2(0, lift)
            var d2 = SIMD2<Float>(m.x, m.y - centreY)
            d2 /= (d2 * d2).sum().squareRoot()
            let outward = SIMD3<Float>(d2.x, d2.y, 0)
            let origin = SIMD3<Float>(0, centreY, 5)
            let alphaEnd: Float = [86, 86, 86, 85, 74, 62, 56, 55, 55][k] * Float.pi / 180
            let alphaStart: Float = 28 * Float.pi / 180
            var path: [SurfacePoint] = []
            var pathPoints: [SIMD3<Float>] = []
            for s in 0..<LandmarkSet.jawSamples {
                let a = alphaStart + (alphaEnd - alphaStart) * Float(s) / Float(LandmarkSet.jawSamples - 1)
                let dir = SIMD3<Float>(0, 0, -1) * cos(a) + outward * sin(a)
                let hit = HeadShape.outermostHit(origin: origin, dir: dir)
                path.append(locator.through(hit))
                pathPoints.append(hit)
            }
            jawPaths.append(path)
            jawOrigins.append(origin * 0.001)
            jawDirections.append(outward)
            var limits: [Int] = []
            for style in HairStyles.styles {
                var limit = pathPoints.count
                for (i, p) in pathPoints.enumerated() where HairStyles.inside(style, p) > 10 {
                    limit = i
                    break
                }
                limits.append(max(limit, 2))
            }
            jawLimits.append(limits)
        }
    }

    func evaluate(world: [SIMD3<Float>], triangles: [SIMD3<Int32>], pose: HeadPose, camera: PinholeCamera, hairStyle: Int) -> [SIMD2<Float>] {
        evaluate3D(world: world, triangles: triangles, pose: pose, camera: camera, hairStyle: hairStyle).map { camera.project($0) }
    }

    /// Landmarks as camera-space points.
    func evaluate3D(world: [SIMD3<Float>], triangles: [SIMD3<Int32>], pose: HeadPose, camera: PinholeCamera, hairStyle: Int) -> [SIMD3<Float>] {
        let style = ((hairStyle % HairStyles.count) + HairStyles.count) % HairStyles.count
        var out = [SIMD3<Float>](repeating: .zero, count: 68)
        for (i, sp) in fixed.enumerated() { out[17 + i] = sp.position(in: world, triangles: triangles) }
        let (r0, r1, r2) = pose.rotationMatrix
        func rotate(_ p: SIMD3<Float>) -> SIMD3<Float> { SIMD3((r0 * p).sum(), (r1 * p).sum(), (r2 * p).sum()) }
        for j in 0...16 {
            let path = jawPaths[j]
            let limit = min(jawLimits[j][style], path.count)
            let o3 = rotate(jawOrigins[j]) + pose.translation
            let o2 = camera.project(o3)
            var dirImage = camera.project(o3 + rotate(jawDirections[j]) * 0.01) - o2
            let len = (dirImage * dirImage).sum().squareRoot()
            dirImage = len > 0 ? dirImage / len : SIMD2(0, 1)
            var p3 = [SIMD3<Float>](repeating: .zero, count: limit)
            var score = [Float](repeating: 0, count: limit)
            var best = 0
            for s in 0..<limit {
                p3[s] = path[s].position(in: world, triangles: triangles)
                score[s] = ((camera.project(p3[s]) - o2) * dirImage).sum()
                if score[s] > score[best] { best = s }
            }
            // Parabolic refinement between neighbouring candidates.
            var point = p3[best]
            if best > 0 && best < limit - 1 {
                let a = score[best - 1], b = score[best], c = score[best + 1]
                let den = a - 2 * b + c
                if den < 0 {
                    let t = max(-0.5, min(0.5, 0.5 * (a - c) / den))
                    point = t >= 0 ? mix(p3[best], p3[best + 1], t) : mix(p3[best], p3[best - 1], -t)
                }
            }
            out[j] = point
        }
        return out
    }
}

/// Finds surface points of the skin grid from directions, rows and frontal positions.
struct SurfaceLocator {
    let mesh: HeadMeshData
    let grid: SkinGrid

    init(mesh: HeadMeshData) {
        self.mesh = mesh
        grid = mesh.grid
    }

    /// Column c and fraction f with θ between the azimuths of columns c and c+1.
    func column(for theta: Float) -> (Int, Float) {
        let C = grid.columns
        for c in 0..<C {
            let a = grid.theta[c]
            var b = grid.theta[(c + 1) % C]
            if b < a - Float.pi { b += 2 * Float.pi }
            var t = theta
            if t < a - Float.pi { t += 2 * Float.pi }
            if t >= a && t <= b { return (c, (t - a) / max(b - a, 1e-9)) }
        }
        return (0, 0)
    }

    /// Index of the first triangle of quad (row r, column c): triangles (a, e, b), (a, d, e) on
    /// the left half, (a, d, b), (d, e, b) on the right, with a = (r, c), b = (r, c+1),
    /// d = (r+1, c), e = (r+1, c+1).
    func quadTriangle(_ r: Int, _ c: Int) -> Int {
        2 * grid.columns + ((r - 1) * grid.columns + (c % grid.columns)) * 2
    }

    /// The point of row `r` at azimuth θ (on the row's polyline).
    func onRow(_ r: Int, theta: Float) -> SurfacePoint {
        let (c, f) = column(for: theta)
        // The quad's first triangle, (a, e, b) or (a, d, b), holds the edge a–b of row r.
        return SurfacePoint(triangle: Int32(quadTriangle(r, c)), barycentric: SIMD3(1 - f, 0, f))
    }

    /// The mesh point hit by the ray from the ray centre through `p` (a point on or near the
    /// neutral surface).
    func through(_ p: SIMD3<Float>) -> SurfacePoint {
        let o = Anatomy.rayCentre
        let dir = normalize(p - o)
        let (theta, _) = HeadShape.angles(of: p)
        let (c0, _) = column(for: theta)
        var best: (SurfacePoint, Float)? = nil
        // Search the two columns around θ over all rows; keep the outermost hit.
        for dc in -1...1 {
            let c = (c0 + dc + grid.columns) % grid.columns
            for r in 1..<(grid.rows - 2) {
                let t0 = quadTriangle(r, c)
                for t in [t0, t0 + 1] {
                    if let (bary, dist) = intersect(o, dir, t) {
                        if best == nil || dist > best!.1 { best = (SurfacePoint(triangle: Int32(t), barycentric: bary), dist) }
                    }
                }
            }
        }
        if let b = best { return b.0 }
        // Fallback: nearest vertex's first triangle (should not happen for points on the face).
        return SurfacePoint(triangle: Int32(quadTriangle(grid.rows / 2, c0)), barycentric: SIMD3(1, 0, 0))
    }

    /// The surface point in front of the face at frontal position (x, y) mm.
    func frontal(x: Float, y: Float) -> SurfacePoint {
        var z: Float = -200
        while z < 100 && HeadShape.sdf(SIMD3(x, y, z)) > 0.02 { z += max(0.05, HeadShape.sdf(SIMD3(x, y, z)) * 0.7) }
        return through(SIMD3(x, y, z))
    }

    /// Möller–Trumbore ray–triangle intersection; barycentrics and distance.
    func intersect(_ o: SIMD3<Float>, _ d: SIMD3<Float>, _ t: Int) -> (SIMD3<Float>, Float)? {
        let tri = mesh.triangles[t]
        let a = mesh.positions[Int(tri.x)], b = mesh.positions[Int(tri.y)], c = mesh.positions[Int(tri.z)]
        let e1 = b - a, e2 = c - a
        let pv = cross(d, e2)
        let det = dot(e1, pv)
        if abs(det) < 1e-12 { return nil }
        let inv = 1 / det
        let tv = o - a
        let u = dot(tv, pv) * inv
        if u < -1e-5 || u > 1 + 1e-5 { return nil }
        let qv = cross(tv, e1)
        let v = dot(d, qv) * inv
        if v < -1e-5 || u + v > 1 + 1e-5 { return nil }
        let dist = dot(e2, qv) * inv
        if dist <= 0 { return nil }
        let uu = max(0, u), vv = max(0, v)
        let s = uu + vv > 1 ? 1 / (uu + vv) : 1
        return (SIMD3(1 - uu * s - vv * s, uu * s, vv * s), dist)
    }
}
