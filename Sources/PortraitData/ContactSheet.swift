import Face
import Foundation
import Imaging

/// Contact sheets: a grid of evenly spaced frames of a clip with the landmarks drawn (jaw and
/// brows green, nose and eyes cyan, mouth red) and the head-mask outline, so a reader sees what
/// the data look like.
public enum ContactSheet {
    /// The iBUG-68 polylines: jaw, brows, nose bridge and base, eyes (closed), outer and inner lips (closed).
    static let polylines: [(indices: [Int], closed: Bool, color: [Float])] = [
        (Array(0...16), false, [0.2, 1, 0.2]),
        (Array(17...21), false, [0.2, 1, 0.2]), (Array(22...26), false, [0.2, 1, 0.2]),
        (Array(27...30), false, [0.2, 0.9, 1]), (Array(31...35), false, [0.2, 0.9, 1]),
        (Array(36...41), true, [0.2, 0.9, 1]), (Array(42...47), true, [0.2, 0.9, 1]),
        (Array(48...59), true, [1, 0.25, 0.25]), (Array(60...67), true, [1, 0.25, 0.25]),
    ]

    /// `frame` with the 68 landmarks drawn, scaled up by `scale` (nearest) so thin lines stay visible.
    public static func annotated(_ frame: Image, landmarks: [SIMD2<Double>]?, mask: Image? = nil, scale: Int = 2) -> Image {
        var image = frame.converted(toChannels: 3)
        if scale > 1 { image = image.resized(width: frame.width * scale, height: frame.height * scale, filter: .nearest) }
        let s = Double(scale)
        if let mask {
            // Mask outline: pixels where the thresholded mask changes between neighbours.
            let m = mask.resized(width: image.width, height: image.height, filter: .nearest)
            let w = image.width, h = image.height
            for y in 0..<(h - 1) {
                for x in 0..<(w - 1) {
                    let a = m.pixels[y * w + x] > 0.5
                    if a != (m.pixels[y * w + x + 1] > 0.5) || a != (m.pixels[(y + 1) * w + x] > 0.5) {
                        image.plot(x: x, y: y, color: [1, 1, 0], alpha: 0.8)
                    }
                }
            }
        }
        if let landmarks, landmarks.count == FaceTopology.count {
            let pts = landmarks.map { SIMD2(($0.x + 0.5) * s - 0.5, ($0.y + 0.5) * s - 0.5) }
            for line in polylines {
                image.drawPolyline(line.indices.map { pts[$0] }, closed: line.closed, color: line.color)
            }
            image.drawPoints(pts, color: [1, 1, 1], radius: 0.8)
        }
        return image
    }

    /// `count` evenly spaced frames of the clip in rows of `columns`, annotated.
    public static func make(_ clip: Clip, count: Int = 8, columns: Int = 4, scale: Int = 2) -> Image {
        let cells = evenlySpaced(count, of: clip.frameCount).map { annotated(clip.frames[$0], landmarks: clip.landmarks[$0], mask: clip.masks[$0], scale: scale) }
        let rows = stride(from: 0, to: cells.count, by: columns).map { Array(cells[$0..<min($0 + columns, cells.count)]) }
        return Image.grid(rows, padding: 4, margin: 4, background: [1, 1, 1])
    }

    /// `count` frame indices spread evenly over `0..<frames`, first and last included.
    public static func evenlySpaced(_ count: Int, of frames: Int) -> [Int] {
        let k = min(count, frames)
        guard k > 1 else { return k == 1 ? [0] : [] }
        return (0..<k).map { $0 * (frames - 1) / (k - 1) }
    }

    /// A strip: one row per frame sequence (all of the same length), `columns` evenly spaced
    /// frames as columns — methods × time in the results, source vs edit for `fym-bench edit`.
    public static func strip(rows: [[Image]], columns: Int = 6) -> Image {
        let picks = evenlySpaced(columns, of: rows.first?.count ?? 0)
        return Image.grid(rows.map { row in picks.map { row[$0].converted(toChannels: 3) } }, padding: 2, margin: 2, background: [1, 1, 1])
    }
}
