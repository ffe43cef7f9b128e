// The ground-truth renderer (ARCHITECTURE.md §3 "A ground-truth renderer (textured mesh, shading,
// background) writes frames with exact landmarks, masks, normals and dense correspondences").

import Foundation
import Imaging
import Parallelism

/// Render settings.
public struct HeadRenderSettings: Sendable, Codable, Equatable {
    /// What is behind the head (colours are display sRGB in [0, 1]). Backgrounds are static:
    /// they depend on the pixel position only.
    public enum Background: Sendable, Codable, Equatable {
        case solid(SIMD3<Float>)
        /// Vertical gradient from `top` (first row) to `bottom` (last row).
        case gradient(top: SIMD3<Float>, bottom: SIMD3<Float>)
        /// Soft procedural colour blotches (fractal value noise) from a seed.
        case textured(seed: UInt64)
    }

    public var background: Background
    /// Anti-aliasing samples per pixel, a perfect square (1, 4, 9, 16, …, 64) laid out as an
    /// n×n grid in the pixel, box-filtered. Odd n puts a sample on the pixel centre.
    public var samplesPerPixel: Int
    /// Camera-space direction from the surface toward the key light (normalised when used).
    /// The default light comes from above, left of the camera.
    public var lightDirection: SIMD3<Float>
    /// Key light strength (linear units; 1 = unit irradiance).
    public var lightIntensity: Float
    /// Environment (hemisphere) light strength.
    public var ambientIntensity: Float

    public init(background: Background = .gradient(top: SIMD3(0.52, 0.56, 0.60), bottom: SIMD3(0.30, 0.32, 0.36)),
                samplesPerPixel: Int = 9,
                lightDirection: SIMD3<Float> = SIMD3(-0.15, -0.60, -0.80),
                lightIntensity: Float = 0.95, ambientIntensity: Float = 0.65) {
        self.background = background
        self.samplesPerPixel = samplesPerPixel
        self.lightDirection = lightDirection
        self.lightIntensity = lightIntensity
        self.ambientIntensity = ambientIntensity
    }

    /// Samples per side of the pixel grid (the integer square root).
    public var samplesPerSide: Int {
        var n = 1
        while (n + 1) * (n + 1) <= samplesPerPixel { n += 1 }
        return n
    }

    public func validate() throws(HeadParameterError) {
        let n = samplesPerSide
        guard samplesPerPixel >= 1, samplesPerPixel <= 64, n * n == samplesPerPixel else {
            throw .invalidSettings("samplesPerPixel must be a perfect square between 1 and 64 (got \(samplesPerPixel))")
        }
        let l = lightDirection
        guard l.x.isFinite, l.y.isFinite, l.z.isFinite, (l * l).sum() > 0 else {
            throw .invalidSettings("lightDirection must be a finite non-zero vector")
        }
        guard lightIntensity.isFinite, lightIntensity >= 0, ambientIntensity.isFinite, ambientIntensity >= 0 else {
            throw .invalidSettings("light intensities must be finite and non-negative")
        }
    }
}

/// Everything the renderer knows about one frame.
public struct HeadRender: Sendable {
    /// Colour, 3 channels, display sRGB in [0, 1].
    public var rgb: Image
    /// Camera z (metres) of the surface at each pixel centre; `.infinity` on the background.
    public var depth: [Float]
    /// Camera-space unit normals at pixel centres (x, y, z in channels 0–2; 0 on the background).
    public var normals: Image
    /// Anti-aliased head coverage in [0, 1] (fraction of samples on the head).
    public var mask: Image
    /// The 68 iBUG landmarks (pixels).
    public var landmarks: [SIMD2<Float>]
    /// The surface point seen at each pixel centre (nil on the background).
    public var surface: [SurfacePoint?]
    /// The camera the frame was rendered with.
    public var camera: PinholeCamera
    /// Camera-space vertex positions of the frame (metres).
    public var posedVertices: [SIMD3<Float>]
}

/// The CPU renderer of the parametric head. Thread-safe; per-person textures are cached (up to
/// eight people) so that rendering a clip paints each texture once.
public struct HeadRenderer: Sendable {
    public let model: HeadModel
    let cache: TextureCache

    public init(model: HeadModel) {
        self.model = model
        cache = TextureCache()
    }

    /// The textures of a person (painted on first use, then cached).
    func textures(for identity: HeadIdentity) -> PersonTextures {
        let key = AppearanceKey(identity)
        if let t = cache.get(key) { return t }
        let t = TexturePainter.make(model: model, identity: identity)
        cache.put(key, t)
        return t
    }

    /// Renders one frame. Parameters are used as given (see ``HeadModel/validate(identity:expression:pose:camera:)``
    /// and ``HeadRenderSettings/validate()``, or ``renderChecked(identity:expression:pose:camera:settings:)``);
    /// a sample count that is not a perfect square uses the largest square below it (at most 64).
    public func render(identity: HeadIdentity, expression: HeadExpression, pose: HeadPose,
                       camera: PinholeCamera, settings: HeadRenderSettings = HeadRenderSettings()) -> HeadRender {
        let tex = textures(for: identity)
        let local = model.vertices(identity: identity, expression: expression)
        let world = model.posed(local, pose: pose)
        let normals = model.vertexNormals(world)
        let n = max(1, min(8, settings.samplesPerSide))
        let W = camera.width, H = camera.height
        let vis = Rasterizer.rasterize(vertices: world, triangles: model.triangles, camera: camera, samplesPerSide: n)
        let centre: VisibilityBuffer
        if n % 2 == 1 && n > 1 {
            centre = VisibilityBuffer.centreSamples(of: vis, pixelsWide: W, pixelsHigh: H)
        } else if n == 1 {
            centre = vis
        } else {
            centre = Rasterizer.rasterize(vertices: world, triangles: model.triangles, camera: camera, samplesPerSide: 1)
        }

        let light = LightRig(settings: settings)
        let shadow = ShadowMap(vertices: world, triangles: model.triangles, toLight: light.toLight)
        var rgb = Image(width: W, height: H, channels: 3)
        var mask = Image(width: W, height: H, channels: 1)
        let plane = W * H
        let bg = BackgroundPainter(settings.background, width: W, height: H)
        let model = self.model
        rgb.pixels.withUnsafeMutableBufferPointer { out in
            mask.pixels.withUnsafeMutableBufferPointer { mk in
                vis.triangle.withUnsafeBufferPointer { vt in
                    vis.b1.withUnsafeBufferPointer { vb1 in
                        vis.b2.withUnsafeBufferPointer { vb2 in
                            world.withUnsafeBufferPointer { wv in
                                normals.withUnsafeBufferPointer { nv in
                                    tex.texels.withUnsafeBufferPointer { tx in
                                        model.triangles.withUnsafeBufferPointer { tris in
                                            model.cornerUV.withUnsafeBufferPointer { cuv in
                                                model.materials.withUnsafeBufferPointer { mats in
                                                    model.ambientOcclusion.withUnsafeBufferPointer { aov in
                                                      shadow.height.withUnsafeBufferPointer { sh in
                                                        Parallel.forChunks(H, costPerItem: W * n * n * 200) { rows in
                                                            let inv = 1 / Float(n * n)
                                                            for y in rows {
                                                                for x in 0..<W {
                                                                    var acc = SIMD3<Float>.zero
                                                                    var covered = 0
                                                                    for sj in 0..<n {
                                                                        let row = (y * n + sj) * (W * n)
                                                                        for si in 0..<n {
                                                                            let k = row + x * n + si
                                                                            let t = Int(vt[k])
                                                                            if t < 0 {
                                                                                acc += bg.color(x: Float(x) - 0.5 + (Float(si) + 0.5) / Float(n),
                                                                                                 y: Float(y) - 0.5 + (Float(sj) + 0.5) / Float(n))
                                                                                continue
                                                                            }
                                                                            covered += 1
                                                                            acc += HeadRenderer.shadeSample(t: t, b1: vb1[k], b2: vb2[k], tris: tris, world: wv, normals: nv,
                                                                                                            cornerUV: cuv, materials: mats, ao: aov, tex: tex, texels: tx, light: light,
                                                                                                            shadow: shadow, shadowHeights: sh)
                                                                        }
                                                                    }
                                                                    let c = acc * inv
                                                                    let i = y * W + x
                                                                    out[i] = linearToSRGB(c.x)
                                                                    out[plane + i] = linearToSRGB(c.y)
                                                                    out[2 * plane + i] = linearToSRGB(c.z)
                                                                    mk[i] = Float(covered) * inv
                                                                }
                                                            }
                                                        }
                                                      }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        // Pixel-centre outputs.
        var depth = [Float](repeating: .infinity, count: plane)
        var normalImage = Image(width: W, height: H, channels: 3)
        var surface = [SurfacePoint?](repeating: nil, count: plane)
        for i in 0..<plane {
            let t = Int(centre.triangle[i])
            if t < 0 { continue }
            depth[i] = centre.depth[i]
            let b1 = centre.b1[i], b2 = centre.b2[i]
            let tri = model.triangles[t]
            let nrm = normalize(normals[Int(tri.x)] * (1 - b1 - b2) + normals[Int(tri.y)] * b1 + normals[Int(tri.z)] * b2)
            normalImage.pixels[i] = nrm.x
            normalImage.pixels[plane + i] = nrm.y
            normalImage.pixels[2 * plane + i] = nrm.z
            surface[i] = SurfacePoint(triangle: Int32(t), barycentric: SIMD3(1 - b1 - b2, b1, b2))
        }
        let landmarks = model.landmarks(posedVertices: world, pose: pose, camera: camera, hairStyle: identity.hairStyle)
        return HeadRender(rgb: rgb, depth: depth, normals: normalImage, mask: mask, landmarks: landmarks,
                          surface: surface, camera: camera, posedVertices: world)
    }

    /// ``render(identity:expression:pose:camera:settings:)`` after checking every parameter;
    /// throws ``HeadParameterError`` naming what is wrong.
    public func renderChecked(identity: HeadIdentity, expression: HeadExpression, pose: HeadPose,
                              camera: PinholeCamera, settings: HeadRenderSettings = HeadRenderSettings()) throws(HeadParameterError) -> HeadRender {
        try model.validate(identity: identity, expression: expression, pose: pose, camera: camera)
        try settings.validate()
        return render(identity: identity, expression: expression, pose: pose, camera: camera, settings: settings)
    }

    @inline(__always)
    static func shadeSample(t: Int, b1: Float, b2: Float, tris: UnsafeBufferPointer<SIMD3<Int32>>,
                            world: UnsafeBufferPointer<SIMD3<Float>>, normals: UnsafeBufferPointer<SIMD3<Float>>,
                            cornerUV: UnsafeBufferPointer<SIMD2<Float>>, materials: UnsafeBufferPointer<HeadMaterial>,
                            ao: UnsafeBufferPointer<Float>, tex: PersonTextures, texels: UnsafeBufferPointer<SIMD4<Float>>,
                            light: LightRig, shadow: ShadowMap, shadowHeights: UnsafeBufferPointer<Float>) -> SIMD3<Float> {
        let tri = tris[t]
        let b0 = 1 - b1 - b2
        let i0 = Int(tri.x), i1 = Int(tri.y), i2 = Int(tri.z)
        let p = world[i0] * b0 + world[i1] * b1 + world[i2] * b2
        let nrm = normalize(normals[i0] * b0 + normals[i1] * b1 + normals[i2] * b2)
        let v = normalize(-p)
        let uv = cornerUV[3 * t] * b0 + cornerUV[3 * t + 1] * b1 + cornerUV[3 * t + 2] * b2
        let occlusion = ao[i0] * b0 + ao[i1] * b1 + ao[i2] * b2
        var light = light
        let lit = shadow.lit(p, normal: nrm, shadowHeights)
        light.key *= 0.12 + 0.88 * lit
        switch materials[t] {
        case .skin:
            let s = tex.sample(uv.x, uv.y, texels)
            return Materials.shade(albedo: SIMD3(s.x, s.y, s.z), specWeight: s.w, shininess: 24, specScale: 0.55, wrap: 0.25,
                                   n: nrm, v: v, ao: occlusion, light: light)
        case .eye:
            let (c, spec) = Materials.eyeAlbedo(uv, tex)
            return Materials.shade(albedo: linear(c), specWeight: spec, shininess: 600, specScale: 2.0, wrap: 0,
                                   n: nrm, v: v, ao: occlusion, light: light)
        case .teeth:
            let c = Materials.teethAlbedo(uv)
            return Materials.shade(albedo: linear(c), specWeight: 0.6, shininess: 60, specScale: 0.6, wrap: 0.1,
                                   n: nrm, v: v, ao: occlusion, light: light)
        case .ear:
            let inner = 1 - smoothstep(0.15, 0.42, ((uv - SIMD2(0.5, 0.5)) * (uv - SIMD2(0.5, 0.5))).sum().squareRoot())
            let c = tex.skinLinear * SIMD3(1.0, 0.86, 0.84) * (1 - 0.25 * inner)
            return Materials.shade(albedo: c, specWeight: 0.3, shininess: 20, specScale: 0.4, wrap: 0.3,
                                   n: nrm, v: v, ao: occlusion, light: light)
        }
    }
}

extension VisibilityBuffer {
    /// The centre sample of every pixel of an odd-n buffer, as an n = 1 buffer.
    static func centreSamples(of v: VisibilityBuffer, pixelsWide W: Int, pixelsHigh H: Int) -> VisibilityBuffer {
        let n = v.samplesPerSide, c = n / 2
        var out = VisibilityBuffer(width: W, height: H, samplesPerSide: 1,
                                   depth: [Float](repeating: .infinity, count: W * H),
                                   triangle: [Int32](repeating: -1, count: W * H),
                                   b1: [Float](repeating: 0, count: W * H), b2: [Float](repeating: 0, count: W * H))
        for y in 0..<H {
            for x in 0..<W {
                let k = (y * n + c) * v.width + x * n + c
                let i = y * W + x
                out.depth[i] = v.depth[k]; out.triangle[i] = v.triangle[k]; out.b1[i] = v.b1[k]; out.b2[i] = v.b2[k]
            }
        }
        return out
    }
}

/// Evaluates a background at sample positions (linear RGB).
struct BackgroundPainter: Sendable {
    let kind: HeadRenderSettings.Background
    let width: Int, height: Int
    let top: SIMD3<Float>, bottom: SIMD3<Float>
    let palette: [SIMD3<Float>]
    let noise: LatticeNoise

    init(_ kind: HeadRenderSettings.Background, width: Int, height: Int) {
        self.kind = kind
        self.width = width
        self.height = height
        switch kind {
        case .solid(let c): top = Head.linear(c); bottom = top; palette = []; noise = LatticeNoise(seed: 0)
        case .gradient(let a, let b): top = Head.linear(a); bottom = Head.linear(b); palette = []; noise = LatticeNoise(seed: 0)
        case .textured(let seed):
            var g = SplitMix64(seed: seed)
            var colors: [SIMD3<Float>] = []
            for _ in 0..<3 {
                colors.append(Head.linear(SIMD3(g.uniform(0.15...0.85), g.uniform(0.15...0.85), g.uniform(0.15...0.85))))
            }
            palette = colors
            top = colors[0]; bottom = colors[1]
            noise = LatticeNoise(seed: seed)
        }
    }

    @inline(__always)
    func color(x: Float, y: Float) -> SIMD3<Float> {
        switch kind {
        case .solid: return top
        case .gradient:
            let t = height > 1 ? min(max(y / Float(height - 1), 0), 1) : 0
            return top + (bottom - top) * t
        case .textured:
            let s = 5 / Float(max(width, height))
            let a = 0.5 + 0.5 * noise.fbm(x * s, y * s, octaves: 4, layer: 1)
            let b = 0.5 + 0.5 * noise.fbm(x * s * 2.1 + 13, y * s * 2.1 - 7, octaves: 3, layer: 2)
            return palette[0] + (palette[1] - palette[0]) * smoothstep(0.3, 0.7, a) + (palette[2] - palette[0]) * 0.35 * b
        }
    }
}

/// A small lock-protected cache of per-person textures (no global state: one per renderer).
final class TextureCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(AppearanceKey, PersonTextures)] = []
    private let capacity = 8

    func get(_ key: AppearanceKey) -> PersonTextures? {
        lock.lock(); defer { lock.unlock() }
        if let i = entries.firstIndex(where: { $0.0 == key }) {
            let e = entries.remove(at: i)
            entries.append(e)
            return e.1
        }
        return nil
    }

    func put(_ key: AppearanceKey, _ t: PersonTextures) {
        lock.lock(); defer { lock.unlock() }
        entries.removeAll { $0.0 == key }
        entries.append((key, t))
        if entries.count > capacity { entries.removeFirst() }
    }
}
