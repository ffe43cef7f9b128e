import Editing
import Foundation
import Imaging
import Methods
import PortraitData

/// Scenes and method inputs shared by the baseline tests.
enum BaselineScenes {
    /// A smooth colour texture (sums of sinusoids, which optical flow tracks well) translated
    /// `shift` pixels to the right.
    static func texture(_ width: Int, _ height: Int, shift: Float) -> Image {
        var im = Image(width: width, height: height, channels: 3)
        let plane = width * height
        for y in 0..<height {
            for x in 0..<width {
                let u = Float(x) - shift, v = Float(y)
                let base = 0.5 + 0.2 * sin(u * 0.45) * cos(v * 0.38) + 0.1 * sin(u * 0.17 + v * 0.23)
                for c in 0..<3 { im.pixels[c * plane + y * width + x] = base + 0.05 * Float(c) }
            }
        }
        return im
    }

    /// A method input with source frames S_t and per-frame edits E_t (no landmarks, empty masks).
    static func input(source: [Image], edits: [Image]) -> MethodInput {
        let meta = ClipMetadata(dataset: "t", clip: "c", kind: .user, frameCount: edits.count, width: edits[0].width, height: edits[0].height,
                                fps: 25, source: "test", licence: "test", landmarkSource: "", maskSource: "")
        return MethodInput(source: source, landmarks: source.map { _ in nil },
                           masks: source.map { Image(width: $0.width, height: $0.height, channels: 1) }, clip: meta,
                           edit: EditResult(frames: edits, prompt: "p", sourceCaption: "s", targetCaption: "t", seed: 0, tool: "test"),
                           seed: 0, workDirectory: FileManager.default.temporaryDirectory)
    }
}
