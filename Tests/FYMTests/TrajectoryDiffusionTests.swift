import FYM
import Flow
import Foundation
import Imaging
import NN
import Tensor
import XCTest

/// The trajectory-conditioned denoiser on a tiny clip with known motion: it trains (the ε-loss
/// falls), its conditioning has the right shapes, sampling is deterministic, and shared noise
/// means one initial draw for every frame.
final class TrajectoryDiffusionTests: XCTestCase {
    static let clip = AnalyticMotionClip(size: 16, frameCount: 6)

    static func field(_ kind: MotionEncodingKind = .hash) throws -> MotionField {
        let c = clip
        let config = MotionFieldConfiguration(encoding: kind,
                                              hashGrid: HashGridConfiguration(levels: 4, featuresPerLevel: 2, log2TableSize: 10,
                                                                              spatialBaseResolution: 2, spatialMaxResolution: 16,
                                                                              temporalBaseResolution: 2, temporalMaxResolution: 5),
                                              fourierFrequencies: 4, steps: 150, seed: 1)
        return try MotionField.fit(frames: c.frames, masks: c.masks, trajectories: c.trajectories, visibility: c.visibility,
                                   configuration: config).0
    }

    static let tinyModel = TrajectoryDiffusionConfiguration(channels: [8, 16], blocksPerLevel: 1, attentionLevels: [1], groups: 4,
                                                            timeFeatures: 16, timeEmbeddingDimension: 16, steps: 200, batchSize: 2,
                                                            learningRate: 2e-3, samplingSteps: 4, seed: 5)

    func testTrainsAndSamplesDeterministically() throws {
        let field = try Self.field()
        let channels = field.featureChannels(unetLevels: 2, scales: .multi)
        let conditioning = TrajectoryConditioning(appearance: Self.clip.frames[0], field: field, unetLevels: 2, scales: .multi)
        XCTAssertEqual(conditioning.levelFeatures[3].map { $0?.shape }, [[1, channels[0], 16, 16], [1, channels[1], 8, 8]])
        // W_0 is the appearance itself (d(x, 0) = 0).
        XCTAssertEqual(conditioning.warped[0].maxAbsDifference(Self.clip.frames[0]), 0, accuracy: 1e-6)
        var longer = Self.tinyModel
        longer.steps = 600
        longer.samplingSteps = 20
        let model = TrajectoryDiffusion(configuration: longer, width: 16, height: 16, featureChannels: channels)
        let report = try model.train(frames: Self.clip.frames, conditioning: conditioning)
        print("tiny diffusion: ε-MSE \(report.initialLoss) → \(report.finalLoss), \(report.parameters) parameters, \(report.seconds) s")
        XCTAssertLessThan(report.finalLoss, 0.6 * report.initialLoss)
        var observed = 0
        let a = model.generate(frame: 3, conditioning: conditioning, seed: 9, observe: { _, _ in observed += 1 })
        let b = model.generate(frame: 3, conditioning: conditioning, seed: 9)
        XCTAssertEqual(observed, 20)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.width, 16)
        XCTAssertTrue(a.pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
        // Generating the source from the source lands near it (clipped DDIM); an untrained or
        // unclipped sampler lands at a mean error of ~0.45 on this clip.
        func error(_ x: Image) -> Float { zip(x.pixels, Self.clip.frames[3].pixels).map { abs($0 - $1) }.reduce(0, +) / Float(x.pixels.count) }
        print("tiny diffusion: generated frame error \(error(a)), warp alone \(error(conditioning.warped[3]))")
        XCTAssertLessThan(error(a), 0.1)
        // A batch gives the frames one-at-a-time generation gives (up to summation order).
        let batch = model.generate(frames: [1, 3, 4], conditioning: conditioning, seed: 9)
        for (b, t) in [1, 3, 4].enumerated() {
            XCTAssertLessThan(batch[b].maxAbsDifference(model.generate(frame: t, conditioning: conditioning, seed: 9)), 1e-3, "frame \(t)")
        }
        XCTAssertEqual(model.initialNoise(frame: 1, seed: 9).scalars, model.initialNoise(frame: 4, seed: 9).scalars)
        var perFrame = Self.tinyModel
        perFrame.sharedNoise = false
        let other = TrajectoryDiffusion(configuration: perFrame, width: 16, height: 16, featureChannels: channels)
        XCTAssertNotEqual(other.initialNoise(frame: 1, seed: 9).scalars, other.initialNoise(frame: 4, seed: 9).scalars)
    }

    /// The appearance memory: its fit alone lowers the read-out loss of the residual; the
    /// denoiser's training moves its tables (the gradient reaches them through UNet level 0);
    /// a frozen memory (adaptation of other parameters) keeps its tables exactly.
    func testAppearanceMemoryLearnsTheResidualAndTrainsWithTheDenoiser() throws {
        let field = try Self.field()
        let channels = field.featureChannels(unetLevels: 2, scales: .multi)
        let conditioning = TrajectoryConditioning(appearance: Self.clip.frames[0], field: field, unetLevels: 2, scales: .multi)
        let grid = HashGridConfiguration(levels: 4, featuresPerLevel: 2, log2TableSize: 10, spatialBaseResolution: 2, spatialMaxResolution: 16,
                                         temporalBaseResolution: 2, temporalMaxResolution: 5)
        func model() -> TrajectoryDiffusion {
            var c = Self.tinyModel
            c.prediction = .sample
            return TrajectoryDiffusion(configuration: c, width: 16, height: 16, featureChannels: channels,
                                       memory: HashGridEncoding(grid, seed: 2), frameCount: Self.clip.frames.count)
        }
        let short = try model().fitMemory(frames: Self.clip.frames, conditioning: conditioning, steps: 3, framesPerStep: 6)
        let long = try model().fitMemory(frames: Self.clip.frames, conditioning: conditioning, steps: 300, framesPerStep: 6)
        print("appearance memory: read-out loss \(short) after 3 steps, \(long) after 300")
        XCTAssertLessThan(long, 0.3 * short)
        let m = model()
        XCTAssertEqual(m.parameters.count, m.unet.parameters.count + 1, "the UNet's parameters and the memory's table")
        let before = m.memory!.table.value.scalars
        _ = try m.train(frames: Self.clip.frames, conditioning: conditioning, steps: 3)
        XCTAssertNotEqual(m.memory!.table.value.scalars, before)
        let trained = m.memory!.table.value.scalars
        _ = try m.train(frames: Self.clip.frames, conditioning: conditioning, parameters: Array(m.unet.parameters.prefix(4)), steps: 2)
        XCTAssertEqual(m.memory!.table.value.scalars, trained)
        XCTAssertTrue(m.memory!.table.requiresGrad, "unfrozen after training")
    }

    /// Every switch combination of the encoding and scales builds a model that runs a step.
    func testEveryEncodingAndScaleCombinationRuns() throws {
        for kind in MotionEncodingKind.allCases {
            let field = try Self.field(kind)
            for scales in MotionScales.allCases {
                let conditioning = TrajectoryConditioning(appearance: Self.clip.frames[0], field: field, unetLevels: 2, scales: scales)
                let model = TrajectoryDiffusion(configuration: Self.tinyModel, width: 16, height: 16,
                                                featureChannels: field.featureChannels(unetLevels: 2, scales: scales))
                let r = try model.train(frames: Self.clip.frames, conditioning: conditioning, steps: 2)
                XCTAssertEqual(r.steps, 2, "\(kind) \(scales)")
                XCTAssertTrue(r.finalLoss.isFinite)
            }
        }
    }
}
