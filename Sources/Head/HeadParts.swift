// The closed sub-meshes that sit in or against the skin: eyeballs (with a corneal bulge and
// eye-plane texture coordinates for the iris), ears (a flattened, egg-shaped ellipsoid with a
// concha bowl) and the two dental arches (bent boxes following the lip contact line). Each is a
// closed, outward-oriented 2-manifold of sphere topology. Millimetres, head-local axes.

import Foundation

extension HeadMeshBuilder {
    // MARK: Eyes

    static func addEyes(_ mesh: inout HeadMeshData) {
        for side: Float in [-1, 1] {
            let part: HeadPart = side < 0 ? .eyeRight : .eyeLeft
            let centre = Anatomy.eyeCentre(side: side)
            let rings = 20, segments = 28
            let start = mesh.positions.count
            // Pole at the front (the pupil centre, looking along −z), rings backward.
            let irisAngle = asin(Float(5.9) / Anatomy.eyeRadius)
            func point(_ polar: Float, _ az: Float) -> (SIMD3<Float>, SIMD2<Float>) {
                let dir = SIMD3<Float>(sin(polar) * cos(az), sin(polar) * sin(az), -cos(polar))
                // Cornea bulge over the iris.
                let bulge: Float = polar < irisAngle ? 0.9 * (1 - (polar / irisAngle) * (polar / irisAngle)) : 0
                let p = centre + dir * (Anatomy.eyeRadius + bulge)
                return (p, SIMD2(dir.x, dir.y) / sin(irisAngle))   // iris edge at |uv| = 1
            }
            var uvs: [SIMD2<Float>] = []
            let front = point(0, 0)
            mesh.append(front.0, part: part); uvs.append(front.1)
            // Ring polar angles: dense over the iris.
            var polars: [Float] = []
            for i in 1..<rings {
                let t = Float(i) / Float(rings)
                polars.append(Float.pi * Float(pow(Double(t), 1.35)))
            }
            for pol in polars {
                for j in 0..<segments {
                    let az = 2 * Float.pi * Float(j) / Float(segments)
                    let q = point(pol, az)
                    mesh.append(q.0, part: part); uvs.append(q.1)
                }
            }
            let back = point(Float.pi, 0)
            mesh.append(back.0, part: part); uvs.append(SIMD2(9, 9))
            let ringCount = polars.count
            func v(_ ring: Int, _ j: Int) -> Int { start + 1 + ring * segments + ((j % segments) + segments) % segments }
            let backIndex = start + 1 + ringCount * segments
            for j in 0..<segments {
                mesh.addTriangle(start, v(0, j + 1), v(0, j), material: .eye,
                                 uv: (uvs[0], uvs[v(0, j + 1) - start], uvs[v(0, j) - start]))
                mesh.addTriangle(backIndex, v(ringCount - 1, j), v(ringCount - 1, j + 1), material: .eye,
                                 uv: (uvs[backIndex - start], uvs[v(ringCount - 1, j) - start], uvs[v(ringCount - 1, j + 1) - start]))
            }
            for i in 0..<(ringCount - 1) {
                for j in 0..<segments {
                    let a = v(i, j), b = v(i, j + 1), c = v(i + 1, j), d = v(i + 1, j + 1)
                    mesh.addTriangle(a, d, c, material: .eye, uv: (uvs[a - start], uvs[d - start], uvs[c - start]))
                    mesh.addTriangle(a, b, d, material: .eye, uv: (uvs[a - start], uvs[b - start], uvs[d - start]))
                }
            }
            mesh.partRanges[part] = start..<mesh.positions.count
        }
    }

    // MARK: Ears

    static func addEars(_ mesh: inout HeadMeshData) {
        for side: Float in [-1, 1] {
            let part: HeadPart = side < 0 ? .earRight : .earLeft
            let start = mesh.positions.count
            let rings = 14, segments = 24
            // Ear frame: n = outward normal of the ear's face, up = along the ear (−y, tilted
            // back), back = toward +z.
            let tilt: Float = 15 * degree          // top leans back
            let flare: Float = 22 * degree         // ear opens away from the head toward its back
            let up = SIMD3<Float>(0, -cos(tilt), sin(tilt))
            var back = SIMD3<Float>(side * sin(flare), 0, cos(flare))
            back = normalize(back - up * dot(back, up))
            let n = normalize(cross(up, back)) * (side > 0 ? -1 : 1)
            let normalOut = dot(n, SIMD3(side, 0, 0)) > 0 ? n : -n
            let centre = SIMD3<Float>(side * 71, 16, 10)
            let halfLength: Float = 31, halfWidth: Float = 17, halfThick: Float = 5
            func point(_ polar: Float, _ az: Float) -> (SIMD3<Float>, SIMD2<Float>) {
                // Ellipsoid in the ear frame, polar axis along `normalOut`.
                let a = cos(az), b = sin(az)
                // Egg outline: wider at the top.
                let widthScale: Float = 1 + 0.18 * (b > 0 ? b : 0.6 * b)
                let rad = sin(polar)
                var h = cos(polar) * halfThick
                // Bowl (concha) on the outer face: push the inner part of the outer side inward.
                if h > 0 {
                    let bowl = (1 - smoothstep(0.55, 0.85, rad)) * 1.7 * halfThick
                    h -= bowl
                }
                let p = centre + up * (b * rad * halfLength) + back * (a * rad * halfWidth * widthScale) + normalOut * h
                return (p, SIMD2(a * rad * 0.5 + 0.5, b * rad * 0.5 + 0.5))
            }
            var uvs: [SIMD2<Float>] = []
            let top = point(0, 0)
            mesh.append(top.0, part: part); uvs.append(top.1)
            for i in 1..<rings {
                let pol = Float.pi * Float(i) / Float(rings)
                for j in 0..<segments {
                    let q = point(pol, 2 * Float.pi * Float(j) / Float(segments))
                    mesh.append(q.0, part: part); uvs.append(q.1)
                }
            }
            let bottom = point(Float.pi, 0)
            mesh.append(bottom.0, part: part); uvs.append(bottom.1)
            let ringCount = rings - 1
            func v(_ ring: Int, _ j: Int) -> Int { start + 1 + ring * segments + ((j % segments) + segments) % segments }
            let bottomIndex = start + 1 + ringCount * segments
            // Orientation: outward normals. Polar axis = normalOut; the ring azimuth turns from
            // `back` toward `up`; (back × up) decides the winding.
            let flip = dot(cross(back, up), normalOut) < 0
            func tri(_ a: Int, _ b: Int, _ c: Int) {
                if flip { mesh.addTriangle(a, c, b, material: .ear, uv: (uvs[a - start], uvs[c - start], uvs[b - start])) }
                else { mesh.addTriangle(a, b, c, material: .ear, uv: (uvs[a - start], uvs[b - start], uvs[c - start])) }
            }
            for j in 0..<segments {
                tri(start, v(0, j), v(0, j + 1))
                tri(bottomIndex, v(ringCount - 1, j + 1), v(ringCount - 1, j))
            }
            for i in 0..<(ringCount - 1) {
                for j in 0..<segments {
                    tri(v(i, j), v(i + 1, j), v(i + 1, j + 1))
                    tri(v(i, j), v(i + 1, j + 1), v(i, j + 1))
                }
            }
            mesh.partRanges[part] = start..<mesh.positions.count
        }
    }

    // MARK: Teeth

    static func addTeeth(_ mesh: inout HeadMeshData) {
        let line = mesh.mouthLine
        for upperJaw in [true, false] {
            let part: HeadPart = upperJaw ? .teethUpper : .teethLower
            let start = mesh.positions.count
            let sections = 24
            let sMax: Float = 0.82
            // Cross-section (Δy, Δz) relative to the lip contact, front face first, clockwise.
            let section: [SIMD2<Float>] = upperJaw
                ? [SIMD2(-10.5, 5.8), SIMD2(-0.6, 5.8), SIMD2(-0.6, 9.0), SIMD2(-10.5, 10.5)]
                : [SIMD2(-1.8, 9.4), SIMD2(9.5, 9.4), SIMD2(9.5, 12.8), SIMD2(-1.8, 12.0)]
            func contact(_ s: Float) -> SIMD3<Float> {
                let f = (s + 1) / 2 * Float(line.count - 1)
                let i = min(Int(f), line.count - 2)
                return mix(line[i], line[i + 1], f - Float(i))
            }
            var uvs: [SIMD2<Float>] = []
            for i in 0...sections {
                let s = -sMax + 2 * sMax * Float(i) / Float(sections)
                let c = contact(s)
                // The arch recedes toward the back teeth faster than the lips do.
                let recede = 5 * s * s
                for (k, o) in section.enumerated() {
                    let p = SIMD3<Float>(c.x * 0.94, c.y + o.x, c.z + o.y + recede)
                    mesh.append(p, part: part)
                    // uv.y: section corner, +4 on the lower arch (the shader tells them apart).
                    uvs.append(SIMD2(s, Float(k) + (upperJaw ? 0 : 4)))
                }
            }
            // End-cap centres.
            for i in [0, sections] {
                var centre = SIMD3<Float>.zero
                for k in 0..<4 { centre += mesh.positions[start + i * 4 + k] }
                mesh.append(centre / 4, part: part)
                uvs.append(SIMD2(i == 0 ? -sMax : sMax, upperJaw ? 1.5 : 5.5))
            }
            func v(_ i: Int, _ k: Int) -> Int { start + i * 4 + (k % 4) }
            func tri(_ a: Int, _ b: Int, _ c: Int) {
                mesh.addTriangle(a, b, c, material: .teeth, uv: (uvs[a - start], uvs[b - start], uvs[c - start]))
            }
            // The section runs clockwise seen from +x; sections advance toward +x.
            for i in 0..<sections {
                for k in 0..<4 {
                    tri(v(i, k), v(i + 1, k + 1), v(i + 1, k))
                    tri(v(i, k), v(i, k + 1), v(i + 1, k + 1))
                }
            }
            let c0 = start + (sections + 1) * 4, c1 = c0 + 1
            for k in 0..<4 {
                tri(c0, v(0, k + 1), v(0, k))
                tri(c1, v(sections, k), v(sections, k + 1))
            }
            mesh.partRanges[part] = start..<mesh.positions.count
            let jaw: Float = upperJaw ? 0 : 1
            for i in start..<mesh.positions.count { mesh.rig[i].jaw = jaw }
        }
    }
}
