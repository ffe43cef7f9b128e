import Foundation
import Head
import Imaging

/// One model and renderer for the whole suite (building the model takes a fraction of a second).
enum Shared {
    static let model = HeadModel()
    static let renderer = HeadRenderer(model: model)

    static func distance(_ a: SIMD2<Float>, _ b: SIMD2<Float>) -> Float {
        ((a - b) * (a - b)).sum().squareRoot()
    }

    static func landmarks(_ e: HeadExpression, identity: HeadIdentity = .mean, pose: HeadPose = .default, size: Int = 256) -> [SIMD2<Float>] {
        model.landmarks(identity: identity, expression: e, pose: pose, camera: .portrait(width: size, height: size))
    }
}
