import Foundation
import Imaging
import Methods

/// The naive temporal baseline: the per-frame edits filtered along time with a causal exponential
/// moving average, O_0 = E_0, O_t = α E_t + (1 − α) O_{t−1}. It removes flicker at the price of
/// ghosting under motion (it ignores where things move) — the failure motion-aware methods such as
/// Bonneel et al. 2015 and FYM are meant to avoid. Setting: `alpha` in (0, 1] (default 0.5).
public struct TemporalSmoothingMethod: VideoEditingMethod {
    public var alpha: Float

    public init(alpha: Float = 0.5) { self.alpha = alpha }

    public var id: String { "temporal-ema" }
    public var settings: [String: String] { ["alpha": String(alpha)] }

    public func run(_ input: MethodInput) throws -> [Image] {
        var out: [Image] = []
        for frame in input.edit.frames {
            guard let previous = out.last else {
                out.append(frame)
                continue
            }
            var next = frame
            for i in 0..<next.pixels.count {
                next.pixels[i] = alpha * frame.pixels[i] + (1 - alpha) * previous.pixels[i]
            }
            out.append(next)
        }
        return out
    }
}
