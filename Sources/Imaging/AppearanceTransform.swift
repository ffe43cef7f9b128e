import Foundation

/// A random smooth recolouring used to augment source training: per channel a gain in
/// [1 − s, 1 + s] and a bias in [−s/2, s/2], plus a smooth colour field (a random 3×3 grid of
/// offsets in [−s/2, s/2], bilinearly up-sampled), the result clamped to [0, 1]. The same
/// transform is applied to every image of one training sample (FYM: the reference, its warp and
/// the target; ConsistentAvatar: the reference and the target).
public struct AppearanceTransform: Sendable {
    let gains: [Float], biases: [Float]
    let field: [Float] // [3, H, W]
    let width: Int, height: Int

    /// `uniform` draws from [0, 1) (the caller's seeded generator), 33 times in a fixed order.
    public init(strength s: Float, width: Int, height: Int, uniform: () -> Float) {
        self.width = width; self.height = height
        gains = (0..<3).map { _ in 1 + s * (2 * uniform() - 1) }
        biases = (0..<3).map { _ in s / 2 * (2 * uniform() - 1) }
        var field = [Float](repeating: 0, count: 3 * width * height)
        for c in 0..<3 {
            let grid = (0..<9).map { _ in s / 2 * (2 * uniform() - 1) }
            for y in 0..<height {
                let fy = Float(y) / Float(max(height - 1, 1)) * 2
                let y0 = min(Int(fy), 1), ly = fy - Float(y0)
                for x in 0..<width {
                    let fx = Float(x) / Float(max(width - 1, 1)) * 2
                    let x0 = min(Int(fx), 1), lx = fx - Float(x0)
                    let top = grid[y0 * 3 + x0] * (1 - lx) + grid[y0 * 3 + x0 + 1] * lx
                    let bottom = grid[(y0 + 1) * 3 + x0] * (1 - lx) + grid[(y0 + 1) * 3 + x0 + 1] * lx
                    field[(c * height + y) * width + x] = top * (1 - ly) + bottom * ly
                }
            }
        }
        self.field = field
    }

    public func apply(_ image: Image) -> Image {
        precondition(image.width == width && image.height == height && image.channels == 3, "AppearanceTransform size mismatch")
        var out = image
        let np = width * height
        for c in 0..<3 {
            for i in 0..<np {
                out.pixels[c * np + i] = min(1, max(0, image.pixels[c * np + i] * gains[c] + biases[c] + field[c * np + i]))
            }
        }
        return out
    }
}
