// SplatCamera: pinhole camera for the Gaussian rasterizer.

/// Pinhole camera with OpenCV axes (camera x right, y down, z forward), as gsplat's `viewmats`/`Ks`.
///
/// A world point p maps to camera coordinates `R·p + t` (`rotation` is row-major world-to-camera),
/// then to pixels `(fx·x/z + cx, fy·y/z + cy)`, where pixel (i, j) covers [i, i+1)×[j, j+1), i.e.
/// its centre is at (i + 0.5, j + 0.5). Gaussians whose centre has z < `near` (0.01) or z > `far`
/// are culled (no gradient), as in gsplat.
public struct SplatCamera: Sendable, Equatable {
    public var fx: Float
    public var fy: Float
    public var cx: Float
    public var cy: Float
    public var width: Int
    public var height: Int
    /// World-to-camera rotation, row-major 3×3.
    public var rotation: [Float]
    /// World-to-camera translation.
    public var translation: SIMD3<Float>
    public var near: Float = 0.01
    public var far: Float = 1e10

    public init(fx: Float, fy: Float, cx: Float, cy: Float, width: Int, height: Int,
                rotation: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: SIMD3<Float> = .zero) {
        precondition(rotation.count == 9, "SplatCamera: rotation must be 3×3")
        precondition(width > 0 && height > 0, "SplatCamera: empty image")
        self.fx = fx; self.fy = fy; self.cx = cx; self.cy = cy
        self.width = width; self.height = height
        self.rotation = rotation; self.translation = translation
    }

    /// Camera at `eye` looking at `target`; `up` is the world up direction (camera y = −up, OpenCV).
    public static func lookAt(eye: SIMD3<Float>, target: SIMD3<Float>, up: SIMD3<Float>,
                              fx: Float, fy: Float, width: Int, height: Int) -> SplatCamera {
        func normalize(_ v: SIMD3<Float>) -> SIMD3<Float> { v / (v * v).sum().squareRoot() }
        func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
            SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
        }
        let z = normalize(target - eye)
        let x = normalize(cross(z, up))
        let y = cross(z, x)
        let r = [x.x, x.y, x.z, y.x, y.y, y.z, z.x, z.y, z.z]
        let t = -SIMD3((x * eye).sum(), (y * eye).sum(), (z * eye).sum())
        return SplatCamera(fx: fx, fy: fy, cx: Float(width) / 2, cy: Float(height) / 2,
                           width: width, height: height, rotation: r, translation: t)
    }

    /// Camera centre in world coordinates, −Rᵀt.
    public var position: SIMD3<Float> {
        let r = Mat3(rowMajor: rotation)
        return -(r.transposed * translation)
    }
}
