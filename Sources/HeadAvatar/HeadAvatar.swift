// A trained head avatar: mesh-bound Gaussians driven by the tracked head, and everything it renders.

import Flow
import Foundation
import Head
import Imaging
import Parallelism
import Splatting

/// The pixel-centre conventions differ: the head model's ``PinholeCamera`` puts the centre of
/// pixel i at i (landmarks, flows and trajectories of the clip use it), the Gaussian rasterizer at
/// i + 0.5 (gsplat). The splat camera is the head camera shifted by half a pixel, so both project a
/// point to the same place on the pixel grid.
public func splatCamera(for camera: PinholeCamera) -> SplatCamera {
    SplatCamera(fx: camera.fx, fy: camera.fy, cx: camera.cx + 0.5, cy: camera.cy + 0.5,
                width: camera.width, height: camera.height)
}

/// Everything the avatar gives for one frame t (ARCHITECTURE.md §4).
public struct AvatarFrame: Sendable {
    /// The avatar over its training background (``AvatarSettings/background``).
    public var rgb: Image
    /// Accumulated opacity, 1 channel.
    public var alpha: Image
    /// Expected camera-space depth of the Gaussian centres (metres, 0 where alpha is 0).
    public var depth: [Float]
    /// Camera-space unit normals (x, y, z channels; 0 where alpha < 0.5): the parent triangles'
    /// smooth normals at the Gaussians, alpha-blended and renormalised.
    public var normals: Image
    /// D_t: where the surface point seen at each pixel was in frame 0 (a(x) ≈ frame0(x + D(x)),
    /// the convention of the synthetic ground truth): the alpha-normalised blend of the blended
    /// Gaussians' projected-centre displacements t → 0 (flow rendering as in GaussianFlow, Gao et
    /// al. 2024, without the covariance term), so D_0 ≡ 0 and a locally smooth motion is reproduced
    /// to first order. Also whether it is reliable: the pixel is
    /// covered (alpha ≥ 0.5) and the point is visible in frame 0 (frame 0's rendered depth at the
    /// target agrees within 2 mm + three pixel footprints, the ground truth's tolerance).
    public var trajectory: FlowField
    public var trajectoryVisible: [Bool]
    /// The 68 projected mesh landmarks L_t (head-camera pixel convention).
    public var landmarks: [SIMD2<Float>]

    /// `rgb` composited over `frame` outside the avatar: C + (1 − α)·frame, where C = rgb − (1 − α)·background.
    public func composited(over frame: Image, background: SIMD3<Float>) -> Image {
        var out = frame
        let np = rgb.width * rgb.height
        for c in 0..<3 {
            let b = background[c]
            for i in 0..<np {
                let t = 1 - alpha.pixels[i]
                out.pixels[c * np + i] = rgb.pixels[c * np + i] - t * b + t * frame.pixels[c * np + i]
            }
        }
        return out
    }
}

/// A head avatar: Gaussians bound to the parametric head's triangles (``MeshBoundGaussians``), the
/// head identity and per-frame expression and pose from tracking, and the camera.
public struct HeadAvatar: Sendable {
    public let model: HeadModel
    public var gaussians: MeshBoundGaussians
    public var identity: HeadIdentity
    public var expressions: [HeadExpression]
    public var poses: [HeadPose]
    public var camera: PinholeCamera
    public var settings: AvatarSettings

    public init(model: HeadModel, gaussians: MeshBoundGaussians, identity: HeadIdentity, expressions: [HeadExpression],
                poses: [HeadPose], camera: PinholeCamera, settings: AvatarSettings) {
        self.model = model; self.gaussians = gaussians; self.identity = identity; self.expressions = expressions
        self.poses = poses; self.camera = camera; self.settings = settings
    }

    public var frameCount: Int { poses.count }

    /// The posed mesh (camera space) of frame t.
    public func mesh(frame t: Int) -> TriangleMesh {
        TriangleMesh(vertices: model.posed(model.vertices(identity: identity, expression: expressions[t]), pose: poses[t]),
                     triangles: model.triangles)
    }

    public var background: SIMD3<Float> { settings.backgroundColor }

    /// Renders only the colour of frame t (training / evaluation path).
    public func renderColor(frame t: Int) -> Image {
        renderColorAndAlpha(frame: t).rgb
    }

    /// Colour (over ``background``) and accumulated opacity of frame t, without the depth,
    /// normals and trajectories of ``render(frame:frame0:)``.
    public func renderColorAndAlpha(frame t: Int) -> (rgb: Image, alpha: Image) {
        let r = GaussianRasterizer.render(gaussians.cloud(in: TriangleFrames(mesh(frame: t))), camera: splatCamera(for: camera),
                                          background: background)
        return (r.rgb, Image(width: camera.width, height: camera.height, channels: 1, pixels: r.alpha))
    }

    /// Per-Gaussian features for frame t: smooth normal in frame t (3), the 2-D displacement of the
    /// projected centre from frame t to frame 0 (2, pixels) and the centre's depth in frame 0 (1).
    func features(_ tf: TriangleFrames, _ frame0: TriangleFrames) -> [Float] {
        let n = gaussians.count
        var f = [Float](repeating: 0, count: 6 * n)
        f.withUnsafeMutableBufferPointer { fp in
            Parallel.forChunks(n, costPerItem: 64) { range in
                for i in range {
                    let t = Int(gaussians.parents[i])
                    let m = SIMD3(gaussians.localMeans[3 * i], gaussians.localMeans[3 * i + 1], gaussians.localMeans[3 * i + 2])
                    let nrm = tf.smoothNormal(triangle: t, local: m)
                    let p0 = frame0.worldPoint(triangle: t, local: m), pt = tf.worldPoint(triangle: t, local: m)
                    fp[6 * i] = nrm.x; fp[6 * i + 1] = nrm.y; fp[6 * i + 2] = nrm.z
                    if p0.z > 0.01 && pt.z > 0.01 {
                        let d = camera.project(p0) - camera.project(pt)
                        fp[6 * i + 3] = d.x; fp[6 * i + 4] = d.y
                    }
                    fp[6 * i + 5] = p0.z
                }
            }
        }
        return f
    }

    /// Renders frame t with depth, normals, trajectory to frame 0 and landmarks. `frame0Depth` is
    /// the depth/alpha of frame 0 (pass it when rendering many frames; computed when nil).
    public func render(frame t: Int, frame0: (depth: [Float], alpha: [Float])? = nil) -> AvatarFrame {
        let tf = TriangleFrames(mesh(frame: t))
        let f0 = t == 0 ? tf : TriangleFrames(mesh(frame: 0))
        let cam = splatCamera(for: camera)
        let cloud = gaussians.cloud(in: tf, features: features(tf, f0), featureCount: 6)
        let r = GaussianRasterizer.render(cloud, camera: cam, background: background)
        let w = camera.width, h = camera.height, np = w * h
        let reference: (depth: [Float], alpha: [Float])
        if let frame0 { reference = frame0 } else if t == 0 { reference = (r.depth, r.alpha) } else {
            let r0 = GaussianRasterizer.render(gaussians.cloud(in: f0), camera: cam, background: background)
            reference = (r0.depth, r0.alpha)
        }
        var normals = Image(width: w, height: h, channels: 3)
        var u = [Float](repeating: 0, count: np), v = u
        var visible = [Bool](repeating: false, count: np)
        let feats = r.features!
        let fx = camera.fx
        reference.alpha.withUnsafeBufferPointer { refAlpha in
        reference.depth.withUnsafeBufferPointer { refDepth in
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let a = r.alpha[i]
                guard a >= 0.5 else { continue }
                var n = SIMD3(feats[i], feats[np + i], feats[2 * np + i])
                let l = (n * n).sum().squareRoot()
                if l > 0 { n /= l }
                normals.pixels[i] = n.x; normals.pixels[np + i] = n.y; normals.pixels[2 * np + i] = n.z
                let d = SIMD2(feats[3 * np + i], feats[4 * np + i]) / a
                let z0 = feats[5 * np + i] / a
                let q = SIMD2(Float(x), Float(y)) + d
                u[i] = d.x; v[i] = d.y
                guard q.x >= 0, q.y >= 0, q.x <= Float(w - 1), q.y <= Float(h - 1) else { continue }
                // Frame 0's alpha and depth at the target (head-camera pixel centres at integers).
                let a0 = Warping.sampleClamped(refAlpha, width: w, height: h, x: q.x, y: q.y)
                let zRendered = Warping.sampleClamped(refDepth, width: w, height: h, x: q.x, y: q.y)
                let tol = 0.002 + 3 * z0 / fx
                visible[i] = a0 >= 0.5 && abs(zRendered - z0) <= tol
            }
        }
        }}
        let landmarks = model.landmarks(identity: identity, expression: expressions[t], pose: poses[t], camera: camera)
        return AvatarFrame(rgb: r.rgb, alpha: Image(width: w, height: h, channels: 1, pixels: r.alpha), depth: r.depth,
                           normals: normals, trajectory: FlowField(width: w, height: h, u: u, v: v),
                           trajectoryVisible: visible, landmarks: landmarks)
    }
}
