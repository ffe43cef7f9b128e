import Foundation
import Imaging
import Methods
import NN
import Tensor

/// `deep-video-prior` (ARCHITECTURE.md §6): Lei, Xing & Chen, "Blind Video Temporal Consistency via
/// Deep Video Prior", NeurIPS 2020, after the authors' released code (`dvp_video_consistency.py`).
///
/// A fresh convolutional network per clip is trained to map each source frame S_t to its edited
/// frame E_t with an L1 loss, one frame per step, frames in order, for a fixed number of epochs;
/// its outputs are the result. The prior: a network fits what the frames share (the consistent
/// part of the edit) before it fits the per-frame flicker, so stopping early leaves the flicker
/// out. As in the released code, the first 4/5 of the epochs train on every other pixel and row
/// (`coarse_to_fine`), Adam, no augmentation.
///
/// **IRT** (iteratively reweighted training, for multimodal inconsistency — an edit that jumps
/// between several looks): the network has a main and a minor output; per pixel the confidence
/// is 1 where the main output is closer to E_t than the minor one (the difference measured as
/// max over channels of |O − E_t| / (S_t + 0.1)), and the loss is
/// mean(|O_main − E_t|·C) + mean(|O_minor − E_t|·(1 − C)); the first `irt_initialization_epochs`
/// epochs fit frame 0 alone with |O_main − E_0| + 0.9·|O_minor − E_0| (the code's initialisation).
/// The output is the main one. `irt: auto` (default) switches IRT on when the edits are
/// multimodal (``editsAreMultimodal(edits:source:masks:)``).
///
/// Network: this suite's UNet without a time embedding ([8, 16, 32] channels, one ResBlock a
/// level, no attention), sized so that a 60-frame quick cell at 128² trains in about a minute on
/// two cores with the paper's 25 epochs; the paper's network is a larger U-Net. Frames whose sides are not multiples of 4
/// are padded by edge replication and cropped back.
public struct DeepVideoPriorMethod: CatalogMethod {
    public static let methodID = "deep-video-prior"
    public static let summary = "Deep Video Prior (Lei, Xing, Chen, NeurIPS 2020): a fresh network per clip fitted from each source frame to its edit with L1 for a fixed number of epochs (it learns the consistent part first); IRT (main and minor outputs) for multimodal edits"

    /// Whether iteratively reweighted training is used.
    public enum IRTMode: String, Sendable, CaseIterable, Codable {
        /// On when the edits are multimodal (``DeepVideoPriorMethod/editsAreMultimodal(edits:source:masks:)``).
        case auto
        case on
        case off
    }

    public struct Options: SettingsType, Equatable {
        /// Training epochs (passes over the clip, one frame per step): the early stop that is the prior.
        public var epochs = 25
        /// Adam learning rate.
        public var learningRate: Float = 1e-3
        /// UNet channels per level, finest first (sized for a one-minute quick cell with the
        /// paper's 25 epochs; docs/notes/2026-12-02-baselines.md).
        public var channels = [8, 16, 32]
        /// Iteratively reweighted training.
        public var irt: IRTMode = .auto
        /// Epochs that fit frame 0 alone before IRT's reweighted loss (the released code's 5).
        public var irtInitializationEpochs = 5
        /// Train the first 4/5 of the epochs on every other pixel and row (the released code's speed-up).
        public var coarseToFine = true

        public init() {}

        public static let schema = SettingsSchema<Options>([
            .whole("epochs", \.epochs, in: 1...10_000, "training epochs over the clip, one frame per step (the early stop)"),
            .number("learning_rate", \.learningRate, in: .open(0, 1), "Adam learning rate"),
            .wholeList("channels", \.channels, count: 2...5, rule: "2–5 comma-separated multiples of 8, e.g. 8,16,32",
                       element: { $0 >= 8 && $0 % 8 == 0 }, "UNet channels per level, finest first"),
            .choice("irt", \.irt, "iteratively reweighted training (main and minor outputs): on when the edits are multimodal, always, or never"),
            .whole("irt_initialization_epochs", \.irtInitializationEpochs, in: 0...10_000, "epochs fitting frame 0 alone before the reweighted loss"),
            .flag("coarse_to_fine", \.coarseToFine, "train the first 4/5 of the epochs at half resolution"),
        ])
    }

    public let options: Options

    public init(options: Options) { self.options = options }

    /// 2: the multimodality test uses the variance its split explains.
    public var codeVersion: String { "2" }

    /// What one training run did (for tests and reports).
    public struct Training: Sendable {
        /// Mean loss of each epoch.
        public var epochLosses: [Float]
        public var usedIRT: Bool
        public var outputs: [Image]
    }

    public func run(_ input: MethodInput) throws -> [Image] {
        let start = DispatchTime.now().uptimeNanoseconds
        let training = try train(input)
        input.recorder?.record(stage: "train", seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let report = try? encoder.encode(Report(epochLosses: training.epochLosses, usedIRT: training.usedIRT, settings: settings)) {
            input.recorder?.attach(report: "deep-video-prior.json", json: report)
        }
        return training.outputs
    }

    /// What a run reports (kept in the experiment's `reports/`): the mean L1 loss of every epoch
    /// and whether IRT was used.
    public struct Report: Codable, Sendable {
        public var epochLosses: [Float]
        public var usedIRT: Bool
        public var settings: [String: String]
    }

    /// Trains the network on (S_t, E_t) and returns its main outputs with the loss per epoch.
    public func train(_ input: MethodInput) throws -> Training {
        let source = input.source.map { $0.converted(toChannels: 3) }, edits = input.edit.frames.map { $0.converted(toChannels: 3) }
        let n = source.count
        guard n >= 1, edits.count == n else {
            throw MethodError.invalidInput(method: id, reason: "\(edits.count) edited frames for \(n) source frames")
        }
        let w = source[0].width, h = source[0].height
        let irt: Bool
        switch options.irt {
        case .on: irt = true
        case .off: irt = false
        case .auto: irt = Self.editsAreMultimodal(edits: edits, source: source, masks: input.masks)
        }
        let factor = 1 << (options.channels.count - 1)
        let multiple = options.coarseToFine ? 2 * factor : factor
        let pw = (w + multiple - 1) / multiple * multiple, ph = (h + multiple - 1) / multiple * multiple
        let inputs = source.map { Self.tensor(Self.padded($0, width: pw, height: ph)) }
        let targets = edits.map { Self.tensor(Self.padded($0, width: pw, height: ph)) }
        // The half-resolution copies of the coarse epochs, made once.
        let coarseInputs = options.coarseToFine ? inputs.map { $0.subsampled() } : []
        let coarseTargets = options.coarseToFine ? targets.map { $0.subsampled() } : []
        let config = UNetConfiguration(inChannels: 3, outChannels: irt ? 6 : 3, channels: options.channels, blocksPerLevel: 1,
                                       attentionLevels: [], middleAttention: false, timeFeatures: 0, groups: 8)
        let net = UNet(config, seed: input.seed &+ 0xD5)
        let optimizer = Adam(parameters: net.parameters, learningRate: options.learningRate)
        let coarseEpochs = options.coarseToFine ? options.epochs * 4 / 5 : 0
        var epochLosses: [Float] = []
        for epoch in 0..<options.epochs {
            let coarse = epoch < coarseEpochs
            let initialising = irt && epoch < options.irtInitializationEpochs
            var sum: Float = 0
            for k in 0..<n {
                let t = initialising ? 0 : k
                let x = coarse ? coarseInputs[t] : inputs[t], y = coarse ? coarseTargets[t] : targets[t]
                let out = net(Variable(x), timesteps: [])
                let target = Variable(y)
                let loss: Variable
                if !irt {
                    loss = (out - target).abs().mean()
                } else {
                    let main = out.slice(axis: 1, 0..<3), minor = out.slice(axis: 1, 3..<6)
                    if initialising {
                        loss = (main - target).abs().mean() + 0.9 * (minor - target).abs().mean()
                    } else {
                        let c = Self.confidence(main: main.value, minor: minor.value, processed: y, input: x)
                        let mask = Variable(Tensor(shape: y.shape, scalars: c + c + c))
                        loss = ((main - target).abs() * mask).mean() + ((minor - target).abs() * (mask * -1 + 1)).mean()
                    }
                }
                let value = loss.value.scalar
                guard value.isFinite else {
                    throw MethodError.wrongOutput(method: id, reason: "the training loss became NaN or infinite (epoch \(epoch), frame \(t)); lower learning_rate")
                }
                optimizer.zeroGrad()
                loss.backward()
                try optimizer.step()
                sum += value
            }
            epochLosses.append(sum / Float(n))
        }
        let outputs: [Image] = GradMode.withoutGrad {
            inputs.map { x in
                let out = net(Variable(x), timesteps: []).value
                let main = irt ? out.slice(axis: 1, 0..<3) : out
                return Image(width: pw, height: ph, channels: 3, pixels: main.scalars.map { min(1, max(0, $0)) }).cropped(x: 0, y: 0, width: w, height: h)
            }
        }
        return Training(epochLosses: epochLosses, usedIRT: irt, outputs: outputs)
    }

    /// IRT's confidence per pixel [H·W]: 1 where the main output is closer to the processed frame
    /// than the minor output, 0 elsewhere; closeness is max over channels of |O − P| / (I + 0.1)
    /// (tensors [1, 3, H, W], the released code's rule).
    public static func confidence(main: Tensor, minor: Tensor, processed: Tensor, input: Tensor) -> [Float] {
        precondition(main.shape == processed.shape && minor.shape == processed.shape && input.shape == processed.shape && main.shape[1] == 3,
                     "IRT confidence needs four [1, 3, H, W] tensors")
        let np = main.shape[2] * main.shape[3]
        let m = main.scalars, o = minor.scalars, p = processed.scalars, x = input.scalars
        return (0..<np).map { i in
            var dMain: Float = 0, dMinor: Float = 0
            for c in 0..<3 {
                let k = c * np + i, scale = 1 / (x[k] + 0.1)
                dMain = max(dMain, abs(m[k] - p[k]) * scale)
                dMinor = max(dMinor, abs(o[k] - p[k]) * scale)
            }
            return dMain < dMinor ? 1 : 0
        }
    }

    /// Whether the edits fall into two separate looks rather than one look with jitter: the
    /// per-frame mean colour change E_t − S_t (over the head mask, or the whole frame when a mask
    /// is empty) projected on its principal axis and split into the two groups of least
    /// within-group spread; multimodal when each group holds at least two frames and a tenth of
    /// the clip, the split explains at least 90 % of the variance (a unimodal Gaussian's best
    /// split explains 64 %, a uniform's 75 %; two equal modes need their means 6 standard
    /// deviations apart), and the spread is at least 0.01 (smaller changes are invisible).
    public static func editsAreMultimodal(edits: [Image], source: [Image], masks: [Image]) -> Bool {
        let n = min(edits.count, source.count)
        guard n >= 4 else { return false }
        let changes: [SIMD3<Double>] = (0..<n).map { t in
            let e = edits[t].converted(toChannels: 3), s = source[t].converted(toChannels: 3), np = e.planeSize
            let mask = t < masks.count && masks[t].planeSize == np ? masks[t].pixels.map { $0 >= 0.5 } : []
            let useMask = mask.contains(true)
            var sum = SIMD3<Double>(repeating: 0), count = 0.0
            for i in 0..<np where !useMask || mask[i] {
                sum += SIMD3(Double(e.pixels[i] - s.pixels[i]), Double(e.pixels[np + i] - s.pixels[np + i]), Double(e.pixels[2 * np + i] - s.pixels[2 * np + i]))
                count += 1
            }
            return sum / max(count, 1)
        }
        let mean = changes.reduce(SIMD3<Double>(repeating: 0), +) / Double(n)
        // Principal axis of the 3×3 covariance by power iteration.
        var cov = [[Double]](repeating: [0, 0, 0], count: 3)
        for c in changes {
            let d = c - mean
            for a in 0..<3 { for b in 0..<3 { cov[a][b] += d[a] * d[b] / Double(n) } }
        }
        var axis = SIMD3<Double>(1, 1, 1) / 3.0.squareRoot()
        for _ in 0..<50 {
            var next = SIMD3<Double>(repeating: 0)
            for a in 0..<3 { for b in 0..<3 { next[a] += cov[a][b] * axis[b] } }
            let norm = (next * next).sum().squareRoot()
            guard norm > 1e-15 else { return false }
            axis = next / norm
        }
        let values = changes.map { (($0 - mean) * axis).sum() }.sorted()
        let spread = (values.map { $0 * $0 }.reduce(0, +) / Double(n)).squareRoot()
        guard spread >= 0.01 else { return false }
        let minimum = max(2, (n + 9) / 10)
        var best: Double? = nil
        for split in minimum...max(minimum, n - minimum) where n - split >= minimum {
            let a = values[..<split], b = values[split...]
            func within(_ s: ArraySlice<Double>) -> Double {
                let m = s.reduce(0, +) / Double(s.count)
                return s.map { ($0 - m) * ($0 - m) }.reduce(0, +)
            }
            let cost = within(a) + within(b)
            if best == nil || cost < best! { best = cost }
        }
        guard let best else { return false }
        let total = values.map { $0 * $0 }.reduce(0, +)
        return 1 - best / total >= 0.9
    }

    static func padded(_ image: Image, width: Int, height: Int) -> Image {
        guard image.width != width || image.height != height else { return image }
        var out = Image(width: width, height: height, channels: image.channels)
        for c in 0..<image.channels {
            for y in 0..<height {
                let sy = min(y, image.height - 1)
                for x in 0..<width {
                    out.pixels[(c * height + y) * width + x] = image.pixels[(c * image.height + sy) * image.width + min(x, image.width - 1)]
                }
            }
        }
        return out
    }

    static func tensor(_ image: Image) -> Tensor {
        Tensor(shape: [1, image.channels, image.height, image.width], scalars: image.pixels)
    }
}

extension Tensor {
    /// Every other pixel and row of a [N, C, H, W] tensor (x[:, :, ::2, ::2]).
    func subsampled() -> Tensor {
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3], h2 = (h + 1) / 2, w2 = (w + 1) / 2
        let v = scalars
        var out = [Float](repeating: 0, count: n * c * h2 * w2)
        for p in 0..<(n * c) {
            for y in 0..<h2 {
                for x in 0..<w2 { out[(p * h2 + y) * w2 + x] = v[(p * h + 2 * y) * w + 2 * x] }
            }
        }
        return Tensor(shape: [n, c, h2, w2], scalars: out)
    }
}
