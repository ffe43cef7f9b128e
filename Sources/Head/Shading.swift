// Shading: Lambert diffuse with wrap lighting for skin (a cheap stand-in for subsurface
// scattering, Green 2004, GPU Gems ch. 16), normalised Blinn–Phong specular (Blinn 1977) with
// Schlick's Fresnel, a hemispherical environment light (sky above, ground below; the
// "hemisphere lighting" of Hemisphere-ambient models) attenuated by ambient occlusion baked from
// the head's signed distance field (Quilez, "SDF ambient occlusion"), all in linear RGB.

import Foundation
import Parallelism

enum HeadShading {
    /// Per-vertex ambient occlusion of the neutral head (1 = unoccluded).
    static func ambientOcclusion(mesh: HeadMeshData) -> [Float] {
        let n = mesh.positions.count
        var ao = [Float](repeating: 1, count: n)
        let skin = mesh.partRanges[.skin]!
        ao.withUnsafeMutableBufferPointer { out in
            let box = UncheckedBox(out)
            let chunks = 16
            DispatchQueue.concurrentPerform(iterations: chunks) { w in
                let lo = skin.lowerBound + skin.count * w / chunks, hi = skin.lowerBound + skin.count * (w + 1) / chunks
                for v in lo..<hi {
                    let p = mesh.positions[v]
                    let d0 = HeadShape.sdf(p)
                    if d0 < -1.0 { box.value[v] = 0.35; continue }   // pocket interiors
                    let nrm = HairStyles.sdfNormal(p)
                    let upward = normalize(nrm + SIMD3(0, -1.2, 0))
                    var occ: Float = 0
                    var weight: Float = 0
                    for dir in [nrm, upward] {
                        for (i, h) in [Float(2.5), 6, 11, 18, 28].enumerated() {
                            let d = HeadShape.sdf(p + dir * h)
                            let w = 1 / Float(i + 2)
                            occ += w * max(0, h - d) / h
                            weight += w
                        }
                    }
                    box.value[v] = max(0.25, 1 - 1.5 * occ / weight)
                }
            }
        }
        for part in [HeadPart.teethUpper, .teethLower] {
            if let r = mesh.partRanges[part] { for v in r { ao[v] = 0.55 } }
        }
        for part in [HeadPart.eyeRight, .eyeLeft, .earRight, .earLeft] {
            if let r = mesh.partRanges[part] { for v in r { ao[v] = 0.9 } }
        }
        return ao
    }
}

/// Lighting environment in camera space (linear RGB).
struct LightRig {
    var toLight: SIMD3<Float>
    var key: SIMD3<Float>
    var sky: SIMD3<Float>
    var ground: SIMD3<Float>
    /// Camera-space "up" of the world (the camera is upright: −y).
    var up = SIMD3<Float>(0, -1, 0)

    init(settings: HeadRenderSettings) {
        toLight = normalize(settings.lightDirection)
        key = SIMD3(1.0, 0.96, 0.90) * settings.lightIntensity
        sky = SIMD3(0.62, 0.66, 0.74) * settings.ambientIntensity
        ground = SIMD3(0.36, 0.32, 0.29) * settings.ambientIntensity
    }

    /// Environment (ambient) irradiance for a normal.
    @inline(__always)
    func ambient(_ n: SIMD3<Float>) -> SIMD3<Float> {
        let t = 0.5 + 0.5 * dot(n, up)
        return ground + (sky - ground) * t
    }
}

enum Materials {
    /// Shades one surface sample. `albedo` linear RGB; `specWeight` 0…1; `n` unit normal;
    /// `v` unit vector toward the camera.
    @inline(__always)
    static func shade(albedo: SIMD3<Float>, specWeight: Float, shininess: Float, specScale: Float, wrap: Float,
                      n: SIMD3<Float>, v: SIMD3<Float>, ao: Float, light: LightRig) -> SIMD3<Float> {
        let ndl = dot(n, light.toLight)
        let diffuse = max(0, (ndl + wrap) / (1 + wrap))
        var c = albedo * (light.ambient(n) * ao + light.key * diffuse * (0.55 + 0.45 * ao))
        if ndl > 0 && specWeight > 0 {
            let h = normalize(light.toLight + v)
            let ndh = max(0, dot(n, h))
            let vdh = max(0, dot(v, h))
            let fresnel = 0.04 + 0.96 * pow(1 - vdh, 5)
            let norm = (shininess + 8) / (8 * Float.pi)
            let s = specScale * specWeight * norm * pow(ndh, shininess) * fresnel * ndl
            c += light.key * s
        }
        return c
    }

    /// Iris, pupil, limbus and sclera at eye-plane coordinates `uv` (|uv| = 1 at the iris edge).
    @inline(__always)
    static func eyeAlbedo(_ uv: SIMD2<Float>, _ tex: PersonTextures) -> (SIMD3<Float>, Float) {
        let r = (uv * uv).sum().squareRoot()
        let sclera = SIMD3<Float>(0.80, 0.74, 0.70)
        if r > 1.05 {
            // Sclera, a little darker and warmer toward the corners, and under the upper lid.
            let fade = smoothstep(1.05, 2.6, r)
            var c = sclera * (1 - 0.25 * fade)
            c *= 1 - 0.35 * smoothstep(-0.6, -1.6, uv.y)
            return (c, 1)
        }
        let angle = atan2(uv.y, uv.x)
        let streak = tex.irisNoise.value(angle * 9, r * 2.5, layer: 3) * 0.5 + tex.irisNoise.value(angle * 23, r * 6, layer: 5) * 0.3
        var iris = tex.iris * (0.75 + 0.35 * streak)
        // Collarette lighter, limbal ring darker.
        iris *= 1 + 0.25 * (1 - smoothstep(0.45, 0.65, r))
        iris *= 1 - 0.55 * smoothstep(0.82, 1.0, r)
        let pupil: Float = 0.40
        let w = smoothstep(pupil - 0.04, pupil + 0.04, r)
        var c = SIMD3<Float>(0.012, 0.010, 0.010) * (1 - w) + iris * w
        let limbus = smoothstep(0.98, 1.05, r)
        c = c * (1 - limbus) + sclera * 0.75 * limbus
        // The upper lid's shadow on the iris.
        c *= 1 - 0.35 * smoothstep(-0.5, -1.0, uv.y)
        return (c, 1)
    }

    /// Teeth and gums: `uv.x` is the arch position s ∈ [−0.82, 0.82], `uv.y` the corner of the
    /// cross-section (upper arch 0…3, lower arch 4…7; see `HeadMeshBuilder.addTeeth`).
    @inline(__always)
    static func teethAlbedo(_ uv0: SIMD2<Float>) -> SIMD3<Float> {
        let upper = uv0.y < 3.75
        let uv = SIMD2(uv0.x, upper ? uv0.y : uv0.y - 4)
        let x = abs(uv.x) * Anatomy.mouthHalfWidth
        // Tooth boundaries (mm from the midline): centrals, laterals, canines, premolars.
        let bounds: [Float] = [0, 8.3, 14.8, 21.0, 26.5, 32]
        var gap: Float = 10
        for b in bounds { gap = min(gap, abs(x - b)) }
        var c = SIMD3<Float>(0.80, 0.76, 0.66) * (0.55 + 0.45 * smoothstep(0.15, 0.9, gap))
        // Gum toward the root edge (section corners 0 and 3 are at the root for both arches).
        let rootness = upper ? (uv.y < 1.5 ? 1 - uv.y : uv.y - 2) : (uv.y < 1.5 ? uv.y : 3 - uv.y)
        let gum = smoothstep(0.55, 0.95, rootness)
        c = c * (1 - gum) + SIMD3<Float>(0.62, 0.30, 0.30) * gum
        return c * (1 - 0.35 * smoothstep(10, 24, x))
    }
}
