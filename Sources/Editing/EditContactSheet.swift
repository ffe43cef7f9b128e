import Foundation
import Imaging

/// Contact sheets of edits for the README and for eyeballing: one row of source frames, then one
/// row per edit, columns at the chosen frame indices, on white with a small gap.
public enum EditContactSheet {
    /// Rows: `source`, then each edit's frames (in `edits` order); columns: `frames` (indices past
    /// a row's end are skipped). `scale` > 1 enlarges every cell (nearest neighbour).
    public static func make(source: [Image], edits: [(prompt: String, frames: [Image])], frames: [Int],
                            scale: Int = 1, padding: Int = 2) -> Image {
        func row(_ seq: [Image]) -> [Image] {
            frames.filter { $0 >= 0 && $0 < seq.count }.map { i in
                let im = seq[i].converted(toChannels: 3)
                return scale > 1 ? im.resized(width: im.width * scale, height: im.height * scale, filter: .nearest) : im
            }
        }
        let rows = [row(source)] + edits.map { row($0.frames) }
        return Image.grid(rows, padding: padding, margin: padding, background: [1, 1, 1])
    }
}
