import Foundation
import Tensor

/// Residual block with a timestep embedding (Ho et al. 2020; the DDPM/ADM block):
/// GN → SiLU → Conv3×3 → + Linear(temb) → GN → SiLU → Conv3×3, plus a 1×1 shortcut when the
/// channel count changes.
public final class ResBlock: Layer {
    public let norm1: GroupNorm, conv1: Conv2d, timeProjection: Linear?
    public let norm2: GroupNorm, conv2: Conv2d, shortcut: Conv2d?
    public let outChannels: Int

    public init(_ inChannels: Int, _ outChannels: Int, timeDimension: Int?, groups: Int, generator: inout SeededGenerator) {
        self.outChannels = outChannels
        norm1 = GroupNorm(groups: groups, channels: inChannels)
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, padding: 1, generator: &generator)
        timeProjection = timeDimension.map { Linear($0, outChannels, generator: &generator) }
        norm2 = GroupNorm(groups: groups, channels: outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, generator: &generator)
        shortcut = inChannels == outChannels ? nil : Conv2d(inChannels, outChannels, kernelSize: 1, generator: &generator)
    }

    public func callAsFunction(_ x: Variable, timeEmbedding: Variable?) -> Variable {
        // The time embedding and the skip are added in the convolutions' epilogues.
        var timeBias: Variable? = nil
        if let timeProjection, let timeEmbedding { timeBias = timeProjection(timeEmbedding) }
        let h = conv1(norm1.silu(x), sampleBias: timeBias)
        return conv2(norm2.silu(h), residual: shortcut.map { $0(x) } ?? x)
    }

    public func namedParameters() -> [(String, Variable)] {
        var p = prefixed("norm1", norm1.namedParameters()) + prefixed("conv1", conv1.namedParameters())
        if let timeProjection { p += prefixed("time_proj", timeProjection.namedParameters()) }
        p += prefixed("norm2", norm2.namedParameters()) + prefixed("conv2", conv2.namedParameters())
        if let shortcut { p += prefixed("shortcut", shortcut.namedParameters()) }
        return p
    }
}

/// Self-attention over the pixels of a feature map (the ADM / DDPM attention block):
/// GN → Conv1×1 to q, k, v → softmax(qᵀk/√d + bias) → Conv1×1 → + input.
/// `logitBias` (broadcastable to [B, heads, HW, HW]) is added to the logits — FYM's landmark
/// re-weighting passes β·log ω_j per key token here.
public final class SpatialSelfAttention: Layer {
    public let norm: GroupNorm, qkv: Conv2d, projection: Conv2d
    public let heads: Int, channels: Int

    public init(channels: Int, heads: Int = 1, groups: Int, generator: inout SeededGenerator) {
        self.channels = channels
        self.heads = heads
        norm = GroupNorm(groups: groups, channels: channels)
        qkv = Conv2d(channels, 3 * channels, kernelSize: 1, generator: &generator)
        projection = Conv2d(channels, channels, kernelSize: 1, generator: &generator)
    }

    public func callAsFunction(_ x: Variable, logitBias: Variable? = nil) -> Variable {
        let B = x.shape[0], C = channels, H = x.shape[2], W = x.shape[3], T = H * W
        let qkvMap = qkv(norm(x)).reshaped([B, 3 * C, T])
        // Tokens as [B, T, C] for the shared attention routine.
        let tokens = qkvMap.permuted([0, 2, 1])
        let q = tokens.slice(axis: 2, 0..<C), k = tokens.slice(axis: 2, C..<(2 * C)), v = tokens.slice(axis: 2, (2 * C)..<(3 * C))
        let y = scaledDotProductAttention(query: q, key: k, value: v, heads: heads, logitBias: logitBias)
        let map = y.permuted([0, 2, 1]).reshaped([B, C, H, W])
        return x + projection(map)
    }

    public func namedParameters() -> [(String, Variable)] {
        prefixed("norm", norm.namedParameters()) + prefixed("qkv", qkv.namedParameters()) + prefixed("proj", projection.namedParameters())
    }
}

/// Architecture of a ``UNet``. The defaults describe nothing in particular; see
/// ``UNetConfiguration/reference`` for the engine benchmark network.
public struct UNetConfiguration: Codable, Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    /// Channels of each resolution level, finest first.
    public var channels: [Int]
    /// ResBlocks per encoder level; decoder levels have one more (ADM convention).
    public var blocksPerLevel: Int
    /// Levels (0 = finest) whose ResBlocks are followed by self-attention.
    public var attentionLevels: [Int]
    /// Self-attention between the two middle ResBlocks.
    public var middleAttention: Bool
    public var attentionHeads: Int
    /// Sinusoidal timestep features (0 disables the time embedding entirely).
    public var timeFeatures: Int
    /// Width of the time-embedding MLP output.
    public var timeEmbeddingDimension: Int
    public var groups: Int
    /// Channels of an extra conditioning map injected at each level (1×1 convolution, added to
    /// the hidden state on entry to the level in the encoder and in the decoder, at that
    /// level's resolution); 0 for none. FYM feeds
    /// its multi-scale trajectory features here (ARCHITECTURE.md §5.2).
    public var levelConditionChannels: [Int]

    public init(inChannels: Int, outChannels: Int, channels: [Int], blocksPerLevel: Int = 2, attentionLevels: [Int] = [],
                middleAttention: Bool = true, attentionHeads: Int = 1, timeFeatures: Int = 128,
                timeEmbeddingDimension: Int = 128, groups: Int = 8, levelConditionChannels: [Int]? = nil) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.channels = channels
        self.blocksPerLevel = blocksPerLevel; self.attentionLevels = attentionLevels
        self.middleAttention = middleAttention; self.attentionHeads = attentionHeads
        self.timeFeatures = timeFeatures; self.timeEmbeddingDimension = timeEmbeddingDimension
        self.groups = groups
        self.levelConditionChannels = levelConditionChannels ?? Array(repeating: 0, count: channels.count)
    }

    /// The engine benchmark network of `shared/bench/REFERENCE-UNET.md` (3,622,179 parameters).
    public static let reference = UNetConfiguration(inChannels: 6, outChannels: 3, channels: [32, 64, 128], blocksPerLevel: 2,
                                                    attentionLevels: [], middleAttention: true, attentionHeads: 1,
                                                    timeFeatures: 128, timeEmbeddingDimension: 128, groups: 8)
}

/// Optional inputs of a UNet forward pass beyond the image and timestep.
public struct UNetConditioning {
    /// One conditioning map per level (at that level's resolution) or nil.
    public var levelFeatures: [Variable?]
    /// Residuals added to the skip tensors (ControlNet outputs), one per skip, in push order.
    public var skipResiduals: [Variable]?
    /// Residual added to the middle block output (ControlNet).
    public var middleResidual: Variable?
    /// Logit bias for self-attention, keyed by the number of tokens (H·W) of the feature map.
    public var attentionBias: [Int: Variable]
    /// A global condition [N, timeEmbeddingDimension] added to the timestep embedding, so that it
    /// shifts every ResBlock (ADM's class conditioning; ConsistentAvatar's appearance code).
    public var globalEmbedding: Variable?

    public init(levelFeatures: [Variable?] = [], skipResiduals: [Variable]? = nil, middleResidual: Variable? = nil,
                attentionBias: [Int: Variable] = [:], globalEmbedding: Variable? = nil) {
        self.levelFeatures = levelFeatures
        self.skipResiduals = skipResiduals
        self.middleResidual = middleResidual
        self.attentionBias = attentionBias
        self.globalEmbedding = globalEmbedding
    }
}

/// A configurable denoising UNet (Ronneberger et al. 2015 as adapted by Ho et al. 2020 and
/// Dhariwal & Nichol 2021): input conv; per level `blocksPerLevel` ResBlocks (optionally with
/// attention) and a stride-2 downsampling conv between levels; middle ResBlock → attention →
/// ResBlock; decoder levels of `blocksPerLevel + 1` ResBlocks over the concatenation with
/// popped skips, nearest 2× up-sampling + conv between levels; GN → SiLU → conv out.
public final class UNet: Layer {
    public let configuration: UNetConfiguration
    let timeMLP1: Linear?, timeMLP2: Linear?
    let inputConv: Conv2d
    let encoderBlocks: [[ResBlock]]
    let encoderAttention: [[SpatialSelfAttention?]]
    let downsamplers: [Conv2d]
    let middle1: ResBlock, middleAttention: SpatialSelfAttention?, middle2: ResBlock
    let decoderBlocks: [[ResBlock]]
    let decoderAttention: [[SpatialSelfAttention?]]
    let upsamplers: [Conv2d]
    let levelConditionProjections: [Conv2d?]
    let decoderConditionProjections: [Conv2d?]
    let outputNorm: GroupNorm, outputConv: Conv2d

    /// Channels of the skip tensors in push order (the ControlNet branch mirrors these).
    public let skipChannels: [Int]

    public init(_ c: UNetConfiguration, seed: UInt64) {
        precondition(!c.channels.isEmpty, "UNet needs at least one level")
        precondition(c.levelConditionChannels.count == c.channels.count, "levelConditionChannels must have one entry per level")
        var g = SeededGenerator(seed: seed)
        configuration = c
        let temb: Int? = c.timeFeatures > 0 ? c.timeEmbeddingDimension : nil
        if c.timeFeatures > 0 {
            timeMLP1 = Linear(c.timeFeatures, c.timeEmbeddingDimension, generator: &g)
            timeMLP2 = Linear(c.timeEmbeddingDimension, c.timeEmbeddingDimension, generator: &g)
        } else { timeMLP1 = nil; timeMLP2 = nil }
        inputConv = Conv2d(c.inChannels, c.channels[0], kernelSize: 3, padding: 1, generator: &g)
        var skips = [c.channels[0]]
        var enc: [[ResBlock]] = [], encAttn: [[SpatialSelfAttention?]] = [], downs: [Conv2d] = []
        var cur = c.channels[0]
        for (level, ch) in c.channels.enumerated() {
            var blocks: [ResBlock] = [], attn: [SpatialSelfAttention?] = []
            for _ in 0..<c.blocksPerLevel {
                blocks.append(ResBlock(cur, ch, timeDimension: temb, groups: c.groups, generator: &g))
                attn.append(c.attentionLevels.contains(level) ? SpatialSelfAttention(channels: ch, heads: c.attentionHeads, groups: c.groups, generator: &g) : nil)
                cur = ch
                skips.append(ch)
            }
            enc.append(blocks); encAttn.append(attn)
            if level < c.channels.count - 1 {
                downs.append(Conv2d(ch, ch, kernelSize: 3, stride: 2, padding: 1, generator: &g))
                skips.append(ch)
            }
        }
        encoderBlocks = enc; encoderAttention = encAttn; downsamplers = downs
        middle1 = ResBlock(cur, cur, timeDimension: temb, groups: c.groups, generator: &g)
        middleAttention = c.middleAttention ? SpatialSelfAttention(channels: cur, heads: c.attentionHeads, groups: c.groups, generator: &g) : nil
        middle2 = ResBlock(cur, cur, timeDimension: temb, groups: c.groups, generator: &g)
        var dec: [[ResBlock]] = [], decAttn: [[SpatialSelfAttention?]] = [], ups: [Conv2d] = []
        var pending = skips
        for level in stride(from: c.channels.count - 1, through: 0, by: -1) {
            let ch = c.channels[level]
            var blocks: [ResBlock] = [], attn: [SpatialSelfAttention?] = []
            for _ in 0...c.blocksPerLevel {
                let skip = pending.removeLast()
                blocks.append(ResBlock(cur + skip, ch, timeDimension: temb, groups: c.groups, generator: &g))
                attn.append(c.attentionLevels.contains(level) ? SpatialSelfAttention(channels: ch, heads: c.attentionHeads, groups: c.groups, generator: &g) : nil)
                cur = ch
            }
            dec.append(blocks); decAttn.append(attn)
            if level > 0 { ups.append(Conv2d(ch, ch, kernelSize: 3, padding: 1, generator: &g)) }
        }
        decoderBlocks = dec; decoderAttention = decAttn; upsamplers = ups
        // On entry to encoder level l the hidden state still has the previous level's channels;
        // on entry to decoder level l it has those of the coarser level (or the middle block).
        let levels = c.channels.count
        levelConditionProjections = c.levelConditionChannels.enumerated().map { l, cc in
            cc > 0 ? Conv2d(cc, c.channels[max(l - 1, 0)], kernelSize: 1, generator: &g) : nil
        }
        decoderConditionProjections = c.levelConditionChannels.enumerated().map { l, cc in
            cc > 0 ? Conv2d(cc, c.channels[min(l + 1, levels - 1)], kernelSize: 1, generator: &g) : nil
        }
        outputNorm = GroupNorm(groups: c.groups, channels: c.channels[0])
        outputConv = Conv2d(c.channels[0], c.outChannels, kernelSize: 3, padding: 1, generator: &g)
        skipChannels = skips
    }

    /// The timestep embedding: sinusoidal features → Linear → SiLU → Linear.
    public func timeEmbedding(_ timesteps: [Float]) -> Variable? {
        guard let timeMLP1, let timeMLP2 else { return nil }
        let features = Variable(sinusoidalEmbedding(timesteps, dimension: configuration.timeFeatures))
        return timeMLP2(timeMLP1(features).silu())
    }

    /// Denoises `x` [N, inChannels, H, W] at `timesteps` (one per sample); H and W must be
    /// divisible by 2^(levels−1).
    public func callAsFunction(_ x: Variable, timesteps: [Float], conditioning: UNetConditioning = UNetConditioning()) -> Variable {
        var temb = timeEmbedding(timesteps)
        if let g = conditioning.globalEmbedding {
            precondition(temb != nil, "a global embedding needs the time embedding (timeFeatures > 0)")
            temb = temb! + g
        }
        var (h, skips) = encode(x, timesteps: timesteps, timeEmbedding: temb, conditioning: conditioning)
        if let residuals = conditioning.skipResiduals {
            precondition(residuals.count == skips.count, "expected \(skips.count) skip residuals, got \(residuals.count)")
            skips = zip(skips, residuals).map { $0 + $1 }
        }
        h = middle(h, timeEmbedding: temb, conditioning: conditioning)
        if let r = conditioning.middleResidual { h = h + r }
        return decode(h, skips: skips, timeEmbedding: temb, conditioning: conditioning)
    }

    /// The encoder half: the input convolution (plus `inputResidual`, a ControlNet hint), the
    /// levels with their motion features, and every skip tensor in push order.
    public func encode(_ x: Variable, timesteps: [Float], timeEmbedding temb: Variable?, conditioning: UNetConditioning,
                       inputResidual: Variable? = nil) -> (hidden: Variable, skips: [Variable]) {
        let c = configuration
        precondition(x.shape.count == 4 && x.shape[1] == c.inChannels, "UNet expects [N, \(c.inChannels), H, W], got \(x.shape)")
        let factor = 1 << (c.channels.count - 1)
        precondition(x.shape[2] % factor == 0 && x.shape[3] % factor == 0, "UNet input \(x.shape[2])×\(x.shape[3]) must be divisible by \(factor)")
        precondition(c.timeFeatures == 0 || timesteps.count == x.shape[0], "UNet needs one timestep per sample (\(x.shape[0])), got \(timesteps.count)")
        var h = inputConv(x)
        if let inputResidual { h = h + inputResidual }
        var skips: [Variable] = [h]
        for level in 0..<c.channels.count {
            if let f = levelFeature(level, levelConditionProjections, conditioning) { h = h + f }
            for (block, attn) in zip(encoderBlocks[level], encoderAttention[level]) {
                h = block(h, timeEmbedding: temb)
                if let attn { h = attn(h, logitBias: conditioning.attentionBias[h.shape[2] * h.shape[3]]) }
                skips.append(h)
            }
            if level < c.channels.count - 1 {
                h = downsamplers[level](h)
                skips.append(h)
            }
        }
        return (h, skips)
    }

    /// The middle block: ResBlock → attention → ResBlock.
    public func middle(_ x: Variable, timeEmbedding temb: Variable?, conditioning: UNetConditioning) -> Variable {
        var h = middle1(x, timeEmbedding: temb)
        if let middleAttention { h = middleAttention(h, logitBias: conditioning.attentionBias[h.shape[2] * h.shape[3]]) }
        return middle2(h, timeEmbedding: temb)
    }

    func levelFeature(_ level: Int, _ projections: [Conv2d?], _ conditioning: UNetConditioning) -> Variable? {
        guard level < conditioning.levelFeatures.count, let f = conditioning.levelFeatures[level], let p = projections[level] else { return nil }
        return p(f)
    }

    func decode(_ x: Variable, skips: [Variable], timeEmbedding temb: Variable?, conditioning: UNetConditioning) -> Variable {
        let c = configuration
        var h = x, skips = skips
        for (i, level) in stride(from: c.channels.count - 1, through: 0, by: -1).enumerated() {
            if let f = levelFeature(level, decoderConditionProjections, conditioning) { h = h + f }
            for (block, attn) in zip(decoderBlocks[i], decoderAttention[i]) {
                h = block(Variable.concat([h, skips.removeLast()], axis: 1), timeEmbedding: temb)
                if let attn { h = attn(h, logitBias: conditioning.attentionBias[h.shape[2] * h.shape[3]]) }
            }
            if level > 0 { h = upsamplers[i](h.upsampleNearest(factor: 2)) }
        }
        return outputConv(outputNorm.silu(h))
    }

    /// Parameters of the encoder half and the middle block (time embedding, input convolution,
    /// encoder levels with their motion projections, middle) — what a ControlNet copies.
    public func encoderNamedParameters() -> [(String, Variable)] {
        namedParameters().filter { name, _ in
            name.hasPrefix("time_embed.") || name.hasPrefix("conv_in.") || name.hasPrefix("down.") || name.hasPrefix("mid.")
        }
    }

    public func namedParameters() -> [(String, Variable)] {
        var p: [(String, Variable)] = []
        if let timeMLP1, let timeMLP2 {
            p += prefixed("time_embed.0", timeMLP1.namedParameters()) + prefixed("time_embed.2", timeMLP2.namedParameters())
        }
        p += prefixed("conv_in", inputConv.namedParameters())
        for (l, blocks) in encoderBlocks.enumerated() {
            for (b, block) in blocks.enumerated() {
                p += prefixed("down.\(l).block.\(b)", block.namedParameters())
                if let a = encoderAttention[l][b] { p += prefixed("down.\(l).attn.\(b)", a.namedParameters()) }
            }
            if l < downsamplers.count { p += prefixed("down.\(l).downsample", downsamplers[l].namedParameters()) }
            if let proj = levelConditionProjections[l] { p += prefixed("down.\(l).cond_proj", proj.namedParameters()) }
        }
        p += prefixed("mid.block_1", middle1.namedParameters())
        if let middleAttention { p += prefixed("mid.attn_1", middleAttention.namedParameters()) }
        p += prefixed("mid.block_2", middle2.namedParameters())
        for (i, blocks) in decoderBlocks.enumerated() {
            for (b, block) in blocks.enumerated() {
                p += prefixed("up.\(i).block.\(b)", block.namedParameters())
                if let a = decoderAttention[i][b] { p += prefixed("up.\(i).attn.\(b)", a.namedParameters()) }
            }
            if i < upsamplers.count { p += prefixed("up.\(i).upsample", upsamplers[i].namedParameters()) }
            let level = configuration.channels.count - 1 - i
            if let proj = decoderConditionProjections[level] { p += prefixed("up.\(i).cond_proj", proj.namedParameters()) }
        }
        p += prefixed("norm_out", outputNorm.namedParameters()) + prefixed("conv_out", outputConv.namedParameters())
        return p
    }
}
