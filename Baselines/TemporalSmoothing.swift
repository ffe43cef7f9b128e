import Foundation
import Imaging
import Methods
import TypedSettings

/// The naive temporal baseline: the per-frame edits filtered along time with a causal exponential
/// moving average, O_0 = E_0, O_t = α E_t + (1 − α) O_{t−1}. It removes flicker at the price of
/// ghosting under motion (it ignores where things move) — the failure motion-aware methods such as
/// Bonneel et al. 2015 and FYM are meant to avoid.
public struct TemporalSmoothingMethod: CatalogMethod {
    public static let methodID = "temporal-ema"
    public static let summary = "per-frame edits smoothed along time by an exponential moving average (naive, motion-blind)"

    public struct Options: SettingsType {
        /// Weight α of the current frame's edit, in (0, 1] (1: the per-frame edits unchanged).
        public var alpha: Float = 0.5
        public init() {}
        public static let schema = SettingsSchema<Options>([
            .number("alpha", \.alpha, in: .openClosed(0, 1), "weight of the current frame's edit (1: no smoothing)"),
        ])
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    public func run(_ input: MethodInput) throws -> [Image] {
        var out: [Image] = []
        for frame in input.edit.frames {
            guard let previous = out.last else {
                out.append(frame)
                continue
            }
            var next = frame
            for i in 0..<next.pixels.count {
                next.pixels[i] = options.alpha * frame.pixels[i] + (1 - options.alpha) * previous.pixels[i]
            }
            out.append(next)
        }
        return out
    }
}
