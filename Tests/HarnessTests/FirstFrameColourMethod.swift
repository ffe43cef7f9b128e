// The add-a-baseline example of Baselines/README.md, verbatim: one file, then one catalogue line.
import Imaging
import Methods

/// Every edited frame's mean colour moved toward the first edit's — the smallest complete method.
public struct FirstFrameColourMethod: CatalogMethod {
    public static let methodID = "first-frame-colour"
    public static let summary = "every edited frame shifted toward the first edit's mean colour"

    public struct Options: SettingsType {
        /// Fraction of the colour difference removed, 0…1.
        public var strength: Float = 1
        public init() {}
        public static let schema = SettingsSchema<Options>([
            .number("strength", \.strength, in: .closed(0, 1), "fraction of the colour difference to the first edit removed"),
        ])
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    public func run(_ input: MethodInput) throws -> [Image] {
        let reference = input.edit.frames[0]
        func mean(_ im: Image, _ c: Int) -> Float { im.plane(c).reduce(0, +) / Float(im.planeSize) }
        return input.edit.frames.map { frame in
            var out = frame
            for c in 0..<3 {
                let shift = options.strength * (mean(reference, c) - mean(frame, c))
                for i in 0..<frame.planeSize { out.pixels[c * frame.planeSize + i] += shift }
            }
            return out.clamped()
        }
    }
}
