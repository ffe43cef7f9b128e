// The relighting tool: a new light direction and colour applied through per-frame normals by
// ratio relighting, with the per-frame light estimate jittered as independent relighting tools do.

import Face
import Foundation
import Imaging
import Parallelism
import PortraitData

/// A parsed lighting prompt.
///
/// Directions live in the viewer frame (x to the image right, y up, z towards the viewer) and
/// point from the face towards the light; "left" and "right" are the image's left and right.
public struct LightingPrompt: Sendable, Equatable {
    /// Unit vector towards the light.
    public var direction: SIMD3<Double>
    /// Light colour (RGB, max component 1).
    public var colour: SIMD3<Double>
    /// Strength of the directional light relative to the default.
    public var intensity: Double
    /// Share of ambient light in [0, 1).
    public var ambient: Double
    /// Normalised wording, e.g. "warm light from the left".
    public var phrase: String

    /// The caption of the relit result, e.g. "a photo of a person lit by warm light from the left".
    public var caption: String { "a photo of a person lit by \(phrase)" }

    static let colours: [(String, SIMD3<Double>)] = [
        ("white", SIMD3(1, 1, 1)), ("neutral", SIMD3(1, 1, 1)), ("warm", SIMD3(1, 0.78, 0.55)),
        ("cool", SIMD3(0.7, 0.84, 1)), ("cold", SIMD3(0.7, 0.84, 1)), ("blue", SIMD3(0.35, 0.55, 1)),
        ("red", SIMD3(1, 0.3, 0.25)), ("green", SIMD3(0.45, 1, 0.45)), ("orange", SIMD3(1, 0.6, 0.25)),
        ("yellow", SIMD3(1, 0.92, 0.45)), ("purple", SIMD3(0.7, 0.4, 1)), ("pink", SIMD3(1, 0.55, 0.75)),
        ("cyan", SIMD3(0.4, 0.95, 1)), ("magenta", SIMD3(1, 0.35, 0.9)), ("golden", SIMD3(1, 0.8, 0.4)),
    ]
    /// The colour words of the grammar.
    public static var colourNames: [String] { colours.map(\.0) }

    static let directionWords: [String: SIMD3<Double>] = [
        "left": SIMD3(-1, 0, 0), "right": SIMD3(1, 0, 0),
        "above": SIMD3(0, 1, 0), "top": SIMD3(0, 1, 0), "overhead": SIMD3(0, 1, 0), "upper": SIMD3(0, 1, 0), "up": SIMD3(0, 1, 0),
        "below": SIMD3(0, -1, 0), "bottom": SIMD3(0, -1, 0), "beneath": SIMD3(0, -1, 0), "under": SIMD3(0, -1, 0),
        "underneath": SIMD3(0, -1, 0), "lower": SIMD3(0, -1, 0),
        "front": SIMD3(0, 0, 1), "frontal": SIMD3(0, 0, 1), "camera": SIMD3(0, 0, 1),
    ]
    static let fillerWords: Set<String> = [
        "relight", "relit", "relighting", "light", "lights", "lit", "lighting", "illuminate", "illuminated", "illumination",
        "from", "the", "with", "a", "an", "and", "side", "coming", "shining", "of", "to", "in", "on", "by", "make", "him",
        "her", "it", "them", "his", "portrait", "face", "person", "photo", "colour", "color", "coloured", "colored",
        "toned", "key", "add", "is", "directional", "lamp", "source",
    ]

    /// Parses "relight from the left with warm light", "blue light from above", "soft light from
    /// the upper left", …: one or two compatible directions, at most one colour (default white)
    /// and optional qualities (soft, hard/dramatic/harsh, bright/strong, dim). Any other word, no
    /// direction, or opposite directions give ``EditingToolError/unparsableLighting(prompt:problem:)``.
    public static func parse(_ text: String) throws(EditingToolError) -> LightingPrompt {
        let words = text.lowercased().split { !$0.isLetter }.map(String.init)
        var direction = SIMD3<Double>(0, 0, 0)
        var directionNames: [String] = []
        var colour: (String, SIMD3<Double>)?
        var intensity = 1.0, ambient = 0.4
        var qualities: [String] = []
        var unknown: [String] = []
        for w in words {
            if let d = directionWords[w] {
                if directionNames.contains(where: { directionWords[$0]! == -d }) {
                    throw EditingToolError.unparsableLighting(prompt: text, problem: "opposite directions '\(directionNames.joined(separator: " "))' and '\(w)'")
                }
                if !directionNames.contains(where: { directionWords[$0]! == d }) { direction += d }
                directionNames.append(w)
            } else if let c = colours.first(where: { $0.0 == w }) {
                if let colour, colour.0 != c.0 {
                    throw EditingToolError.unparsableLighting(prompt: text, problem: "two colours '\(colour.0)' and '\(c.0)'")
                }
                colour = c
            } else if ["soft", "diffuse", "gentle"].contains(w) {
                ambient = 0.55; intensity *= 0.85; qualities.append(w)
            } else if ["hard", "dramatic", "harsh", "contrasty"].contains(w) {
                ambient = 0.2; intensity *= 1.1; qualities.append(w)
            } else if ["bright", "strong", "intense"].contains(w) {
                intensity *= 1.3; qualities.append(w)
            } else if ["dim", "faint", "weak"].contains(w) {
                intensity *= 0.7; qualities.append(w)
            } else if !fillerWords.contains(w) {
                unknown.append(w)
            }
        }
        if !unknown.isEmpty {
            throw EditingToolError.unparsableLighting(prompt: text, problem: "unknown word\(unknown.count > 1 ? "s" : "") '\(unknown.joined(separator: "', '"))'")
        }
        guard !directionNames.isEmpty else {
            throw EditingToolError.unparsableLighting(prompt: text, problem: "no light direction")
        }
        // Side and vertical lights keep some frontal component (a key light about 55° off axis).
        if direction.z == 0 { direction.z = 0.7 }
        direction /= (direction * direction).sum().squareRoot()
        let c = colour ?? ("white", SIMD3(1, 1, 1))
        let where_ = directionNames.joined(separator: " ")
        let fromPhrase = ["above", "below", "overhead", "beneath", "underneath"].contains(where_) ? where_
            : (where_ == "top" || where_ == "up" ? "above" : (where_ == "bottom" || where_ == "under" ? "below" : "the \(where_)"))
        let phrase = ((qualities + [c.0 == "white" ? "" : c.0]).filter { !$0.isEmpty } + ["light from \(fromPhrase)"]).joined(separator: " ")
        return LightingPrompt(direction: direction, colour: c.1, intensity: intensity, ambient: ambient, phrase: phrase)
    }
}

/// A per-frame relighting tool: ratio relighting (the new shading divided by an estimate of the
/// old one) through per-frame normals, like portrait relighting networks applied frame by frame.
///
/// For frame t: normals come from the caller (avatar or ground-truth normal maps, see
/// ``relight(frames:clip:landmarks:masks:normals:request:)``) or are estimated
/// (``estimateNormals(width:height:landmarks:headMask:)``: an ellipsoid fitted to the head mask,
/// turned by the yaw read from the landmarks, with a nose ridge and eye sockets). The old light is
/// estimated per frame by a least-squares first-order spherical-harmonics fit of the luma over
/// the face (Lambertian, Ramamoorthi & Hanrahan 2001 order 1), and the new shading is
/// ambient + Lambert + a faint Blinn–Phong sheen of the prompt's light. Like independent tools,
/// the per-frame light estimate, the new light's direction (±29° azimuth, ±20° elevation),
/// colour and intensity and the mask boundary are jittered per frame, scaled by 1 − c
/// (c = `settings["consistency"]`, default 0): at c = 1 every frame gets exactly the prompt's light. Only the head is relit: the
/// head mask with the hair band gated by colour (and, with given normals, where they have a
/// surface); neck, body and background keep their light.
public struct RelightingTool: EditingToolWithSettings {
    public typealias RequestSettings = ConsistencyRequestSettings
    /// Prompts the grammar accepts (listed by `fym-bench edit --list`).
    public static let examplePrompts = [
        "relight from the left with warm light", "blue light from above", "cool light from the right",
        "red light from below", "soft warm light from the front", "dramatic light from the upper left",
    ]
    /// Bumped whenever the shading model changes its output.
    public static let modelVersion = "1"

    public init() {}

    /// ``examplePrompts`` (the grammar accepts more), for `fym-bench edit --list`.
    public var knownPrompts: [String] { RelightingTool.examplePrompts }
    public func validate(prompt: String) throws { _ = try LightingPrompt.parse(prompt) }

    public var id: String { "relight" }
    public var settings: [String: String] { ["model": "ratio-relighting-v\(RelightingTool.modelVersion)"] }

    public func edit(frames: [Image], clip: ClipMetadata, landmarks: [[SIMD2<Double>]?], masks: [Image],
                     request: EditRequest) throws -> EditResult {
        try relight(frames: frames, clip: clip, landmarks: landmarks, masks: masks, normals: request.normals, request: request)
    }

    /// Relights with given per-frame normal maps when `normals` is not nil: 3-channel images
    /// encoding camera-space unit normals as (n + 1)/2 in OpenCV camera axes (x right, y down,
    /// z forward, so a surface facing the camera has n_z < 0); maps whose majority faces the other
    /// way are flipped, and pixels whose decoded normal is shorter than 0.5 count as "no surface".
    /// The relit region is where the maps have a surface, within the head (colour-gated head mask
    /// and landmark face) when the clip has masks or landmarks.
    public func relight(frames: [Image], clip: ClipMetadata, landmarks: [[SIMD2<Double>]?], masks: [Image],
                        normals: [Image]?, request: EditRequest) throws -> EditResult {
        let light = try LightingPrompt.parse(request.prompt)
        let consistency = try ConsistencyRequestSettings.request(request.settings).consistency
        guard let first = frames.first else { throw EditingToolError.noFrames }
        if let normals {
            guard normals.count == frames.count else {
                throw EditingToolError.normals(expected: "\(frames.count) maps", got: "\(normals.count) maps")
            }
            for n in normals where n.width != first.width || n.height != first.height || n.channels < 3 {
                throw EditingToolError.normals(expected: "\(first.width)x\(first.height)x3", got: "\(n.width)x\(n.height)x\(n.channels)")
            }
        }
        let filled = filledLandmarks(landmarks, count: frames.count)
        let haveMasks = masks.count >= frames.count
        if normals == nil && filled == nil && !haveMasks {
            throw EditingToolError.noLandmarks(clip: clip.address, prompt: request.prompt)
        }
        let refIOD = referenceIOD(filled, width: first.width, height: first.height)
        let refShape = meanShape(filled)
        let stream = InstructionEditor.stableHash("relight:" + light.phrase)
        var outFrames = [Image?](repeating: nil, count: frames.count)
        var outMasks = [Image?](repeating: nil, count: frames.count)
        outFrames.withUnsafeMutableBufferPointer { fo in
            outMasks.withUnsafeMutableBufferPointer { mo in
                Parallel.forEach(frames.count, costPerItem: first.planeSize * 200) { t in
                    let frame = EditFrame(index: t, source: frames[t], landmarks: filled?[t],
                                          headMask: haveMasks ? masks[t] : nil, referenceIOD: refIOD,
                                          referenceShape: refShape)
                    var jitter = EditJitter(seed: request.seed, stream: stream, frame: t, consistency: consistency, clipOffset: false)
                    let (image, mask) = RelightingTool.relightFrame(frame, light: light, normals: normals?[t], jitter: &jitter)
                    fo[t] = image.clamped(to: 0...1)
                    mo[t] = mask
                }
            }
        }
        var settings = self.settings
        settings["consistency"] = String(consistency)
        settings["normals"] = normals == nil ? "estimated" : "given"
        settings["light"] = light.phrase
        return EditResult(frames: outFrames.map { $0! }, prompt: request.prompt, sourceCaption: InstructionEditor.sourceCaption,
                          targetCaption: light.caption, seed: request.seed, masks: outMasks.map { $0! }, tool: id,
                          settings: settings)
    }

    // MARK: Normals

    /// Estimated camera-space normals of the head, encoded like given normal maps ((n + 1)/2,
    /// OpenCV camera axes; outside the head (0.5, 0.5, 0.5), i.e. no surface): an ellipsoid
    /// fitted to the head mask's second moments (depth = mean of the two semi-axes), rotated about
    /// the vertical axis by the yaw read from the nose tip's offset from the jaw's midpoint, with
    /// a nose ridge and tip and concave eye sockets added from the landmarks.
    public static func estimateNormals(width: Int, height: Int, landmarks: [SIMD2<Double>]?, headMask: Image?) -> Image {
        let head = EditRegion.mask(.head, landmarks: landmarks, headMask: headMask, width: width, height: height)
        let n = viewerNormals(head: head, landmarks: landmarks)
        var out = Image(width: width, height: height, channels: 3, fill: 0.5)
        let plane = width * height
        for i in 0..<plane where head.pixels[i] > 0.5 {
            out.pixels[i] = (n.x[i] + 1) / 2
            out.pixels[plane + i] = (-n.y[i] + 1) / 2
            out.pixels[2 * plane + i] = (-n.z[i] + 1) / 2
        }
        return out
    }

    /// Normals in the viewer frame (x right, y up, z towards the viewer), one plane per axis.
    struct NormalPlanes {
        var x: [Float]
        var y: [Float]
        var z: [Float]
    }

    static func viewerNormals(head: Image, landmarks p: [SIMD2<Double>]?) -> NormalPlanes {
        let w = head.width, h = head.height, n = w * h
        var nx = [Float](repeating: 0, count: n), ny = nx, nz = [Float](repeating: 1, count: n)
        // Second moments of the mask.
        var sw = 0.0, sx = 0.0, sy = 0.0
        for y in 0..<h { for x in 0..<w {
            let m = Double(head.pixels[y * w + x])
            if m > 0.5 { sw += 1; sx += Double(x); sy += Double(y) }
        } }
        guard sw > 8 else { return NormalPlanes(x: nx, y: ny, z: nz) }
        let cx = sx / sw, cy = sy / sw
        var cxx = 0.0, cxy = 0.0, cyy = 0.0
        for y in 0..<h { for x in 0..<w where head.pixels[y * w + x] > 0.5 {
            let dx = Double(x) - cx, dy = Double(y) - cy
            cxx += dx * dx; cxy += dx * dy; cyy += dy * dy
        } }
        cxx /= sw; cxy /= sw; cyy /= sw
        let tr = cxx + cyy, det = cxx * cyy - cxy * cxy
        let disc = max(0, tr * tr / 4 - det).squareRoot()
        let l1 = tr / 2 + disc, l2 = max(1e-6, tr / 2 - disc)
        let theta = 0.5 * atan2(2 * cxy, cxx - cyy)
        let a = 2 * l1.squareRoot() * 1.05, b = 2 * l2.squareRoot() * 1.05, c = (a + b) / 2
        let ct = cos(theta), st = sin(theta)
        // Yaw from the landmarks.
        var yaw = 0.0
        if let p {
            let mid = (p[0] + p[16]) / 2
            let across = p[16] - p[0]
            let half = max(1, (across * across).sum().squareRoot() / 2)
            let offset = ((p[30] - mid) * across).sum() / (2 * half) / half
            yaw = asin(min(0.7, max(-0.7, offset / 0.9)))
        }
        let cyaw = Float(cos(yaw)), syaw = Float(sin(yaw))
        let iod = p.map { max(1, FaceTopology.interocularDistance($0)) } ?? 1
        let noseTop = p.map { SIMD2<Float>(Float($0[27].x), Float($0[27].y)) }
        let noseTip = p.map { SIMD2<Float>(Float($0[30].x), Float($0[30].y)) }
        let eyes = p.map { [FaceTopology.centroid(of: .rightEye, in: $0), FaceTopology.centroid(of: .leftEye, in: $0)]
            .map { SIMD2<Float>(Float($0.x), Float($0.y)) } }
        let fiod = Float(iod)
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                if head.pixels[i] <= 0 { continue }
                // Ellipsoid normal in image axes (y down, z towards the viewer).
                let dx = Double(x) - cx, dy = Double(y) - cy
                let u = (dx * ct + dy * st) / a, v = (-dx * st + dy * ct) / b
                let r2 = min(0.97, u * u + v * v)
                let gu = u / a, gv = v / b, gz = (1 - r2).squareRoot() / c
                var ex = Float(gu * ct - gv * st), ey = Float(gu * st + gv * ct), ez = Float(gz)
                let len = (ex * ex + ey * ey + ez * ez).squareRoot()
                ex /= len; ey /= len; ez /= len
                // Landmark detail (image axes).
                if let noseTop, let noseTip, let eyes {
                    let q = SIMD2<Float>(Float(x), Float(y))
                    let axis = noseTip - noseTop
                    let alen = max(1, (axis * axis).sum().squareRoot())
                    let dir = axis / alen
                    let rel = q - noseTop
                    let along = (rel * dir).sum() / alen
                    let side = (rel.x * dir.y - rel.y * dir.x) / (0.16 * fiod)
                    if along > -0.1 && along < 1.1 && abs(side) < 2.5 {
                        let k = 0.55 * side * expf(-side * side) * (1 - smoothstep(0.9, 1.1, along)) * smoothstep(-0.1, 0.15, along)
                        ex += k * (-dir.y) * -1
                        ey += k * dir.x * -1
                    }
                    let tip = (q - noseTip) / (0.2 * fiod)
                    let td = (tip * tip).sum()
                    if td < 4 {
                        let k = 0.5 * expf(-td)
                        ex += k * tip.x; ey += k * tip.y
                    }
                    for e in eyes {
                        let s = (q - e) / (0.3 * fiod)
                        let sd = (s * s).sum()
                        if sd < 4 {
                            let k = -0.35 * expf(-sd)
                            ex += k * s.x; ey += k * s.y
                        }
                    }
                }
                // Yaw about the vertical axis, then to the viewer frame (y up).
                let rx = ex * cyaw + ez * syaw, rz = -ex * syaw + ez * cyaw
                var vx = rx, vy = -ey, vz = max(0.05, rz)
                let l = (vx * vx + vy * vy + vz * vz).squareRoot()
                vx /= l; vy /= l; vz /= l
                nx[i] = vx; ny[i] = vy; nz[i] = vz
            }
        }
        return NormalPlanes(x: nx, y: ny, z: nz)
    }

    /// Given (n + 1)/2 OpenCV-axis normals → viewer-frame planes and a validity mask.
    static func decodeNormals(_ map: Image) -> (NormalPlanes, [Float]) {
        let n = map.planeSize
        var nx = [Float](repeating: 0, count: n), ny = nx, nz = [Float](repeating: 1, count: n)
        var valid = [Float](repeating: 0, count: n)
        var zSum: Float = 0
        for i in 0..<n {
            let x = 2 * map.pixels[i] - 1, y = 2 * map.pixels[n + i] - 1, z = 2 * map.pixels[2 * n + i] - 1
            let l = (x * x + y * y + z * z).squareRoot()
            if l < 0.5 { continue }
            valid[i] = 1
            nx[i] = x / l; ny[i] = -y / l; nz[i] = -z / l
            zSum += nz[i]
        }
        if zSum < 0 { for i in 0..<n where valid[i] > 0 { nz[i] = -nz[i] } }
        return (NormalPlanes(x: nx, y: ny, z: nz), valid)
    }

    // MARK: Shading

    /// Solves the 4×4 system `a·x = b` (Gaussian elimination with partial pivoting).
    static func solve4(_ a: [Double], _ b: [Double]) -> [Double]? {
        var m = a, r = b
        for col in 0..<4 {
            var piv = col
            for row in col..<4 where abs(m[row * 4 + col]) > abs(m[piv * 4 + col]) { piv = row }
            if abs(m[piv * 4 + col]) < 1e-12 { return nil }
            if piv != col {
                for k in 0..<4 { m.swapAt(col * 4 + k, piv * 4 + k) }
                r.swapAt(col, piv)
            }
            for row in 0..<4 where row != col {
                let f = m[row * 4 + col] / m[col * 4 + col]
                for k in 0..<4 { m[row * 4 + k] -= f * m[col * 4 + k] }
                r[row] -= f * r[col]
            }
        }
        return (0..<4).map { r[$0] / m[$0 * 4 + $0] }
    }

    /// "Wrap" of the diffuse term (n·l + w)/(1 + w): a softer terminator, as skin scatters light.
    static let wrapLighting = 0.25

    static func relightFrame(_ f: EditFrame, light: LightingPrompt, normals given: Image?,
                             jitter j: inout EditJitter) -> (Image, Image) {
        let n = f.planeSize
        let normals: NormalPlanes
        var region: Image
        if let given {
            let (planes, valid) = decodeNormals(given)
            normals = planes
            region = planeImage(valid, f.width, f.height).gaussianBlurred(sigma: 0.7, border: .replicate)
            if f.headMask != nil || f.landmarks != nil {
                let head = RegionEdits.statueMask(f)
                for i in region.pixels.indices { region.pixels[i] *= head.pixels[i] }
            }
        } else {
            normals = viewerNormals(head: f.nominal(.head), landmarks: f.landmarks)
            region = RegionEdits.statueMask(f)
        }
        let mj = MaskJitter(&j, frame: f, amount: 0.7)
        let mask = mj.apply(region, frame: f)
        // Old light: first-order SH fit of the luma over the face (or the region).
        var fitMask = region.pixels
        if f.landmarks != nil {
            fitMask = f.nominal(.skin).pixels
            for i in fitMask.indices where region.pixels[i] < 0.5 { fitMask[i] = 0 }
        }
        var ata = [Double](repeating: 0, count: 16), atb = [Double](repeating: 0, count: 4)
        for i in 0..<n where fitMask[i] > 0.5 {
            let basis = SIMD4<Double>(1, Double(normals.x[i]), Double(normals.y[i]), Double(normals.z[i]))
            let y = Double(f.luma[i])
            for r in 0..<4 {
                atb[r] += basis[r] * y
                for c in 0..<4 { ata[r * 4 + c] += basis[r] * basis[c] }
            }
        }
        for r in 0..<4 { ata[r * 4 + r] += 1e-3 }
        var sh = solve4(ata, atb) ?? [0.5, 0, 0, 0]
        if sh[0] <= 0.05 { sh = [max(0.05, sh[0]), 0, 0, 0] }
        // Jitter of the light estimate (as an independent estimator would wobble).
        let scale = 0.3 * max(0.1, abs(sh[0]) + abs(sh[3]))
        for k in 1...3 { sh[k] += scale * j.symmetric() }
        // New light, jittered.
        let azimuth = 0.5 * j.symmetric(), elevation = 0.35 * j.symmetric()
        var l = light.direction
        let ca = cos(azimuth), sa = sin(azimuth)
        l = SIMD3(l.x * ca + l.z * sa, l.y, -l.x * sa + l.z * ca)
        let ce = cos(elevation), se = sin(elevation)
        l = SIMD3(l.x, l.y * ce + l.z * se, -l.y * se + l.z * ce)
        l /= (l * l).sum().squareRoot()
        let tint = SIMD3<Double>(1 + 0.15 * j.symmetric(), 1 + 0.08 * j.symmetric(), 1 + 0.15 * j.symmetric())
        let colour = light.colour * tint
        let intensity = light.intensity * (1 + 0.4 * j.symmetric())
        let ambientColour = SIMD3<Double>(repeating: 1) * 0.7 + colour * 0.3
        let hv = SIMD3<Double>(l.x, l.y, l.z + 1) / max(1e-9, ((SIMD3<Double>(l.x, l.y, l.z + 1)) * SIMD3<Double>(l.x, l.y, l.z + 1)).sum().squareRoot())
        let sheen = 0.08 * (1 + 0.3 * j.symmetric())
        // Normalisers: mean old shading and mean shading of a white frontal light over the region.
        var oldMean = 0.0, frontMean = 0.0, count = 0.0
        for i in 0..<n where region.pixels[i] > 0.5 {
            oldMean += max(0.05, sh[0] + sh[1] * Double(normals.x[i]) + sh[2] * Double(normals.y[i]) + sh[3] * Double(normals.z[i]))
            frontMean += light.ambient + (1 - light.ambient) * max(0, (Double(normals.z[i]) + wrapLighting) / (1 + wrapLighting))
            count += 1
        }
        if count > 0 { oldMean /= count; frontMean /= count } else { oldMean = 1; frontMean = 1 }
        let amb = Float(light.ambient), dirGain = Float((1 - light.ambient) * intensity)
        let lx = Float(l.x), ly = Float(l.y), lz = Float(l.z)
        let hx = Float(hv.x), hy = Float(hv.y), hz = Float(hv.z)
        let cr = Float(colour.x), cg = Float(colour.y), cb = Float(colour.z)
        let ar = Float(ambientColour.x), ag = Float(ambientColour.y), ab = Float(ambientColour.z)
        let s0 = Float(sh[0]), s1 = Float(sh[1]), s2 = Float(sh[2]), s3 = Float(sh[3])
        let oldNorm = Float(oldMean), frontNorm = Float(frontMean), ks = Float(sheen), wrap = Float(wrapLighting)
        let m = mask.pixels
        let edit = f.source.mapRGB { _, _, i, r, g, b in
            if m[i] <= 0 { return (r, g, b) }
            let x = normals.x[i], y = normals.y[i], z = normals.z[i]
            let old = max(0.2, (s0 + s1 * x + s2 * y + s3 * z) / oldNorm)
            let lambert = max(0, (x * lx + y * ly + z * lz + wrap) / (1 + wrap)) * dirGain
            let spec = ks * powf(max(0, x * hx + y * hy + z * hz), 24) * dirGain
            let rr = min(3.5, max(0.08, (amb * ar + lambert * cr) / frontNorm / old))
            let rg = min(3.5, max(0.08, (amb * ag + lambert * cg) / frontNorm / old))
            let rb = min(3.5, max(0.08, (amb * ab + lambert * cb) / frontNorm / old))
            return (r * rr + spec * cr, g * rg + spec * cg, b * rb + spec * cb)
        }
        return (f.source.composited(with: edit, mask: mask), mask)
    }
}
