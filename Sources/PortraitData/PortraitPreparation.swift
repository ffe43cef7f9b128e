import Face
import Foundation
import Imaging

/// Turns decoded frames of a real portrait video into a prepared clip: landmarks on every frame
/// (Haar + dlib-68 in tracking mode), one square crop that holds the head through the whole clip,
/// frames resampled to the target resolution, landmarks mapped into the crop, and head masks.
///
/// Crop rule (this project's choice, documented): per frame the dlib face box implied by the
/// landmarks (``BoxMapping/dlibBox(fromLandmarks:)``) is grown into a head box — side × `headScale`,
/// centre raised by `headLift` × side for hair and forehead — and the crop is the smallest square
/// holding every frame's head box, clamped inside the frame (shrunk if the frame is smaller).
public struct PortraitPreparation: Sendable {
    public var resolution: Int
    public var headScale = 2.0
    public var headLift = 0.12
    /// Largest fraction of frames allowed without a face before the clip is refused.
    public var maximumMissingFraction = 0.2
    /// Frames a face track may continue without a confirming Haar detection (profile turns):
    /// 2 s at 30 fps. See ``FaceLandmarker/trackWithStatus(_:searchMargin:minimumOverlap:maximumCoastFrames:)``.
    public var maximumCoastFrames = 60

    public init(resolution: Int) { self.resolution = resolution }

    /// A head mask from 68 landmarks: the face region (jaw closed over a forehead line) united with
    /// the hair band above it, feathered (see ``FaceRegions``). Used for real clips until the
    /// avatar provides rendered masks.
    public static func headMask(landmarks: [SIMD2<Double>], width: Int, height: Int) -> Image {
        let face = FaceRegions.mask(.face, landmarks: landmarks, width: width, height: height)
        let hair = FaceRegions.mask(.hairBand, landmarks: landmarks, width: width, height: height)
        var out = face
        for i in 0..<out.pixels.count { out.pixels[i] = max(face.pixels[i], hair.pixels[i]) }
        return out
    }

    /// The preparation. `frames` are the decoded video frames (RGB); `landmarker` finds faces.
    /// `givenLandmarks` (from the data's own files) replace detection; `givenMasks` (foreground
    /// masks of the data) are cropped like the frames instead of being built from landmarks.
    public func prepare(frames: [Image], landmarker: FaceLandmarker, metadata: ClipMetadata,
                        givenLandmarks: [[SIMD2<Double>]?]? = nil, givenMasks: [Image]? = nil,
                        log: (String) -> Void = { _ in }) throws -> Clip {
        guard let first = frames.first else { throw ClipError.noFrames(path: metadata.source) }
        let tracked: [[SIMD2<Double>]?]
        var coastedFrames: [Int] = []
        if let givenLandmarks {
            guard givenLandmarks.count == frames.count else {
                throw ClipError.countMismatch(path: metadata.source, what: "landmarks", expected: frames.count, got: givenLandmarks.count)
            }
            tracked = givenLandmarks
        } else {
            let result = landmarker.trackWithStatus(frames, maximumCoastFrames: maximumCoastFrames)
            tracked = result.map { $0.face?.landmarksFloat }
            coastedFrames = result.indices.filter { result[$0].status == .coasted }
            if !coastedFrames.isEmpty {
                log("\(coastedFrames.count) frames tracked without a confirming face detection (coasting): \(coastedFrames.prefix(30))")
            }
        }
        if let givenMasks, givenMasks.count != frames.count {
            throw ClipError.countMismatch(path: metadata.source, what: "masks", expected: frames.count, got: givenMasks.count)
        }
        let missing = tracked.indices.filter { tracked[$0] == nil }
        if Double(missing.count) > maximumMissingFraction * Double(frames.count) || missing.count == frames.count {
            throw ClipError.faceLost(clip: metadata.address, frames: missing.count, total: frames.count)
        }
        if !missing.isEmpty { log("warning: no face in \(missing.count) of \(frames.count) frames: \(missing.prefix(20))") }

        // One square crop holding every head box.
        var minX = Double.infinity, minY = Double.infinity, maxX = -Double.infinity, maxY = -Double.infinity
        for face in tracked.compactMap({ $0 }) {
            let box = landmarker.mapping.dlibBox(fromLandmarks: face)
            let side = Double(box.width) * headScale
            let cx = Double(box.left + box.right) / 2
            let cy = Double(box.top + box.bottom) / 2 - headLift * side
            minX = min(minX, cx - side / 2)
            maxX = max(maxX, cx + side / 2)
            minY = min(minY, cy - side / 2)
            maxY = max(maxY, cy + side / 2)
        }
        let side = min(Int((max(maxX - minX, maxY - minY)).rounded(.up)), first.width, first.height)
        let centreX = (minX + maxX) / 2, centreY = (minY + maxY) / 2
        let left = min(max(0, Int((centreX - Double(side) / 2).rounded())), first.width - side)
        let top = min(max(0, Int((centreY - Double(side) / 2).rounded())), first.height - side)
        let crop = CropBox(left: left, top: top, width: side, height: side, outputWidth: resolution, outputHeight: resolution)
        log("crop \(side)×\(side) at (\(left), \(top)) → \(resolution)×\(resolution)")

        let filter: ResizeFilter = side > resolution ? .area : .bicubic
        var outFrames: [Image] = []
        var outLandmarks: [[SIMD2<Double>]?] = []
        for (i, frame) in frames.enumerated() {
            var cropped = frame.cropped(x: left, y: top, width: side, height: side)
            if side != resolution { cropped = cropped.resized(width: resolution, height: resolution, filter: filter).clamped() }
            outFrames.append(cropped)
            outLandmarks.append(tracked[i].map { $0.map(crop.map) })
        }
        // Masks: frames without landmarks take the nearest frame's landmarks (recorded in notes).
        let valid = outLandmarks.indices.filter { outLandmarks[$0] != nil }
        let masks = outLandmarks.indices.map { i -> Image in
            if let givenMasks {
                var m = givenMasks[i].converted(toChannels: 1).cropped(x: left, y: top, width: side, height: side)
                if side != resolution { m = m.resized(width: resolution, height: resolution, filter: filter).clamped() }
                return m
            }
            let nearest = valid.min { abs($0 - i) < abs($1 - i) }!
            return PortraitPreparation.headMask(landmarks: outLandmarks[nearest]!, width: resolution, height: resolution)
        }
        var meta = metadata
        meta.crop = crop
        meta.landmarkSource = givenLandmarks != nil ? "given by the data, mapped into the crop" : "dlib-68 (\(URL(fileURLWithPath: landmarker.predictor.path).lastPathComponent)) on Haar-mapped boxes, "
            + "tracked frame to frame (FaceLandmarker.track), mapped into the crop"
        meta.maskSource = givenMasks != nil ? "given by the data, cropped" : "landmark face region ∪ hair band (PortraitPreparation.headMask); frames without a face use the nearest frame's landmarks"
        if !missing.isEmpty { meta.notes.append("no face found in frames \(missing)") }
        if !coastedFrames.isEmpty {
            meta.notes.append("landmarks predicted from the previous frame's box without a confirming detection in frames \(coastedFrames)")
        }
        return Clip(metadata: meta, frames: outFrames, landmarks: outLandmarks, masks: masks)
    }
}
