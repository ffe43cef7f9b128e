// Small fixed-size linear algebra used by the Splatting rasterizer (row-major 3x3 matrices).

/// Row-major 3x3 matrix (`r0`, `r1`, `r2` are the rows).
@usableFromInline
struct Mat3 {
    @usableFromInline var r0: SIMD3<Float>
    @usableFromInline var r1: SIMD3<Float>
    @usableFromInline var r2: SIMD3<Float>

    @inlinable init(_ r0: SIMD3<Float>, _ r1: SIMD3<Float>, _ r2: SIMD3<Float>) {
        self.r0 = r0; self.r1 = r1; self.r2 = r2
    }
    @inlinable init(rowMajor m: [Float]) {
        r0 = SIMD3(m[0], m[1], m[2]); r1 = SIMD3(m[3], m[4], m[5]); r2 = SIMD3(m[6], m[7], m[8])
    }
    @inlinable static var zero: Mat3 { Mat3(.zero, .zero, .zero) }
    @inlinable var transposed: Mat3 {
        Mat3(SIMD3(r0.x, r1.x, r2.x), SIMD3(r0.y, r1.y, r2.y), SIMD3(r0.z, r1.z, r2.z))
    }
    @inlinable static func * (a: Mat3, b: Mat3) -> Mat3 {
        Mat3(a.r0.x * b.r0 + a.r0.y * b.r1 + a.r0.z * b.r2,
             a.r1.x * b.r0 + a.r1.y * b.r1 + a.r1.z * b.r2,
             a.r2.x * b.r0 + a.r2.y * b.r1 + a.r2.z * b.r2)
    }
    @inlinable static func * (a: Mat3, v: SIMD3<Float>) -> SIMD3<Float> {
        SIMD3((a.r0 * v).sum(), (a.r1 * v).sum(), (a.r2 * v).sum())
    }
    @inlinable static func + (a: Mat3, b: Mat3) -> Mat3 { Mat3(a.r0 + b.r0, a.r1 + b.r1, a.r2 + b.r2) }
    @inlinable static func * (s: Float, a: Mat3) -> Mat3 { Mat3(s * a.r0, s * a.r1, s * a.r2) }
    /// Outer product u vᵀ.
    @inlinable static func outer(_ u: SIMD3<Float>, _ v: SIMD3<Float>) -> Mat3 { Mat3(u.x * v, u.y * v, u.z * v) }
}

/// Rotation matrix of a *unit* quaternion (w, x, y, z), Hamilton convention (as gsplat `quat_to_rotmat`).
@inlinable
func rotationFromUnitQuaternion(_ w: Float, _ x: Float, _ y: Float, _ z: Float) -> Mat3 {
    Mat3(SIMD3(1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
         SIMD3(2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
         SIMD3(2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)))
}

/// The columns (rotated x, y, z axes) of the rotation of a quaternion stored (w, x, y, z) in SIMD4
/// lanes; `q` is normalised first.
public func rotationAxes(of q: SIMD4<Float>) -> (SIMD3<Float>, SIMD3<Float>, SIMD3<Float>) {
    let u = q / (q * q).sum().squareRoot()
    let r = rotationFromUnitQuaternion(u.x, u.y, u.z, u.w).transposed
    return (r.r0, r.r1, r.r2)
}

/// VJP of `rotationFromUnitQuaternion`: gradient w.r.t. (w, x, y, z) of the unit quaternion given dL/dR.
@inlinable
func rotationVJP(_ w: Float, _ x: Float, _ y: Float, _ z: Float, _ g: Mat3) -> SIMD4<Float> {
    let g00 = g.r0.x, g01 = g.r0.y, g02 = g.r0.z
    let g10 = g.r1.x, g11 = g.r1.y, g12 = g.r1.z
    let g20 = g.r2.x, g21 = g.r2.y, g22 = g.r2.z
    let dw = 2 * (-z * g01 + y * g02 + z * g10 - x * g12 - y * g20 + x * g21)
    let dx = 2 * (y * g01 + z * g02 + y * g10 - 2 * x * g11 - w * g12 + z * g20 + w * g21 - 2 * x * g22)
    let dy = 2 * (-2 * y * g00 + x * g01 + w * g02 + x * g10 + z * g12 - w * g20 + z * g21 - 2 * y * g22)
    let dz = 2 * (-2 * z * g00 - w * g01 + x * g02 + w * g10 - 2 * z * g11 + y * g12 + x * g20 + y * g21)
    return SIMD4(dw, dx, dy, dz)
}
