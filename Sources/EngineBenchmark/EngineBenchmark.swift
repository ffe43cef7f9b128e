import Foundation
import NN
import Tensor

/// Figures of the engine benchmark (`fym-bench bench engine`). Every figure is measured on the
/// running machine; timings are medians over `runs` repetitions after warm-up.
public struct EngineBenchmarkReport: Codable, Sendable {
    /// OpenBLAS sgemm throughput, n = 1024 (GFLOP/s).
    public var sgemm_gflops: Double
    /// Forward 3×3 convolution, 64→64 channels, 64×64, batch 8 (GFLOP/s, multiply-add = 2).
    public var conv3x3_gflops: Double
    /// Reference UNet forward, batch 8, gradient recording off (ms).
    public var unet_forward_ms: Double
    /// Reference UNet training step: forward, MSE loss, backward, Adam (ms).
    public var unet_train_step_ms: Double
    /// Parameters of the reference UNet.
    public var unet_params: Int
    /// Peak resident memory of the process (MiB, from getrusage).
    public var peak_rss_mb: Double
    public var runs: Int
    public var warmup: Int
    public var batch: Int
    public var threads: Int
    public var blas: String
    /// OpenBLAS kernel family in use (`OPENBLAS_CORETYPE` or detected; see `BLAS.coreName`).
    public var blas_core: String
    /// Individual timings, for the spread.
    public var unet_forward_samples_ms: [Double]
    public var unet_train_step_samples_ms: [Double]
}

/// Times the engine on the workloads of `shared/bench/REFERENCE-UNET.md`.
public enum EngineBenchmark {
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    public static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }

    /// Peak resident set size of this process in MiB.
    public static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024 // Linux reports KiB.
    }

    /// Median sgemm GFLOP/s for n×n×n.
    public static func sgemmGflops(n: Int = 1024, runs: Int = 10) -> Double {
        var g = SeededGenerator(seed: 1)
        let a = Tensor.uniform([n, n], generator: &g), b = Tensor.uniform([n, n], generator: &g)
        _ = Tensor.matmul(a, b)
        var times: [Double] = []
        for _ in 0..<runs {
            let t0 = now()
            _ = Tensor.matmul(a, b)
            times.append(now() - t0)
        }
        return 2 * Double(n * n * n) / median(times) * 1e-9
    }

    /// Median GFLOP/s of the forward 3×3 convolution 64→64 on 8×64×64×64.
    public static func conv3x3Gflops(runs: Int = 10) -> Double {
        var g = SeededGenerator(seed: 2)
        let x = Tensor.uniform([8, 64, 64, 64], generator: &g)
        let w = Tensor.uniform([64, 64, 3, 3], low: -0.1, high: 0.1, generator: &g)
        let b = Tensor.zeros([64])
        _ = ConvKernels.forward(x, w, b, stride: 1, padding: 1)
        var times: [Double] = []
        for _ in 0..<runs {
            let t0 = now()
            _ = ConvKernels.forward(x, w, b, stride: 1, padding: 1)
            times.append(now() - t0)
        }
        let flops = 2.0 * 8 * 64 * 64 * 9 * 64 * 64
        return flops / median(times) * 1e-9
    }

    /// Runs the whole benchmark.
    /// Which UNet figures to time.
    public enum Part: String, CaseIterable, Sendable { case all, forward, train }

    /// Runs the whole benchmark. The defaults (10 timed runs after 3 warm-up runs) follow the
    /// protocol of the PyTorch figures in REFERENCE-UNET.md. A part that is not timed reports 0.
    public static func run(runs: Int = 10, warmup: Int = 3, batch: Int = 8, part: Part = .all,
                           progress: (String) -> Void = { _ in }) throws -> EngineBenchmarkReport {
        progress("sgemm n=1024")
        let sgemm = sgemmGflops()
        progress("conv3x3 64→64 64×64 batch 8")
        let conv = conv3x3Gflops()

        let unet = UNet(.reference, seed: 0)
        var g = SeededGenerator(seed: 3)
        let x = Variable(Tensor.normal([batch, 6, 64, 64], generator: &g))
        let target = Variable(Tensor.normal([batch, 3, 64, 64], generator: &g))
        let timesteps = (0..<batch).map { _ in Float(Int(g.nextUniform() * 1000)) }
        let optimizer = Adam(parameters: unet.parameters, learningRate: 1e-4)

        progress("UNet forward (\(runs) runs after \(warmup) warm-up)")
        var forward: [Double] = []
        for i in 0..<(part == .train ? 0 : warmup + runs) {
            let t0 = now()
            _ = GradMode.withoutGrad { unet(x, timesteps: timesteps) }
            if i >= warmup { forward.append((now() - t0) * 1000) }
        }
        progress("UNet training step (\(runs) runs after \(warmup) warm-up)")
        var train: [Double] = []
        for i in 0..<(part == .forward ? 0 : warmup + runs) {
            let t0 = now()
            optimizer.zeroGrad()
            let loss = Variable.mseLoss(unet(x, timesteps: timesteps), target)
            guard loss.value.scalar.isFinite else { throw TrainingError.nonFiniteLoss(step: i, value: loss.value.scalar) }
            loss.backward()
            try optimizer.step()
            if i >= warmup { train.append((now() - t0) * 1000) }
        }
        return EngineBenchmarkReport(
            sgemm_gflops: sgemm, conv3x3_gflops: conv,
            unet_forward_ms: forward.isEmpty ? 0 : median(forward), unet_train_step_ms: train.isEmpty ? 0 : median(train),
            unet_params: unet.parameterCount, peak_rss_mb: peakResidentMegabytes(),
            runs: runs, warmup: warmup, batch: batch, threads: BLAS.threadCount, blas: BLAS.configuration, blas_core: BLAS.coreName,
            unet_forward_samples_ms: forward, unet_train_step_samples_ms: train)
    }
}

/// Per-op timings of the engine's heaviest kernels at the reference UNet's sizes
/// (`fym-bench bench ops`): medians over `runs` after one warm-up, forward and backward.
public enum OperatorBenchmark {
    public struct Row: Codable, Sendable {
        public var op: String
        public var shape: [Int]
        public var forward_ms: Double
        public var backward_ms: Double
    }

    public static func run(runs: Int = 10) -> [Row] {
        var g = SeededGenerator(seed: 11)
        func timeOp(_ name: String, _ shape: [Int], _ inputs: [Tensor], _ f: ([Variable]) -> Variable) -> Row {
            var fw: [Double] = [], bw: [Double] = []
            for i in 0...runs {
                let vars = inputs.map { Variable($0, requiresGrad: true) }
                let t0 = EngineBenchmark.now()
                let y = f(vars)
                let t1 = EngineBenchmark.now()
                y.backward(Tensor.ones(y.shape))
                let t2 = EngineBenchmark.now()
                if i > 0 { fw.append((t1 - t0) * 1000); bw.append((t2 - t1) * 1000) }
            }
            return Row(op: name, shape: shape, forward_ms: EngineBenchmark.median(fw), backward_ms: EngineBenchmark.median(bw))
        }
        var rows: [Row] = []
        let x = Tensor.normal([8, 64, 64, 64], generator: &g)
        let gamma = Tensor.ones([64]), beta = Tensor.zeros([64])
        rows.append(timeOp("groupnorm_silu", x.shape, [x, gamma, beta]) { v in
            Variable.groupNorm(v[0], groups: 8, weight: v[1], bias: v[2], fusedSiLU: true)
        })
        rows.append(timeOp("groupnorm", x.shape, [x, gamma, beta]) { v in
            Variable.groupNorm(v[0], groups: 8, weight: v[1], bias: v[2])
        })
        rows.append(timeOp("silu", x.shape, [x]) { v in v[0].silu() })
        rows.append(timeOp("add", x.shape, [x, x]) { v in v[0] + v[1] })
        let w3 = Tensor.normal([64, 64, 3, 3], std: 0.05, generator: &g), b3 = Tensor.zeros([64])
        rows.append(timeOp("conv3x3", x.shape, [x, w3, b3]) { v in Variable.conv2d(v[0], weight: v[1], bias: v[2], padding: 1) })
        rows.append(timeOp("conv3x3_stride2", x.shape, [x, w3, b3]) { v in Variable.conv2d(v[0], weight: v[1], bias: v[2], stride: 2, padding: 1) })
        let w1 = Tensor.normal([64, 64, 1, 1], std: 0.1, generator: &g)
        rows.append(timeOp("conv1x1", x.shape, [x, w1, b3]) { v in Variable.conv2d(v[0], weight: v[1], bias: v[2]) })
        rows.append(timeOp("concat", x.shape, [x, x]) { v in Variable.concat([v[0], v[1]], axis: 1) })
        rows.append(timeOp("upsample2x", x.shape, [x]) { v in v[0].upsampleNearest(factor: 2) })
        let tokens = Tensor.normal([8, 256, 128], generator: &g)
        rows.append(timeOp("attention_256x128", tokens.shape, [tokens]) { v in
            scaledDotProductAttention(query: v[0], key: v[0], value: v[0], heads: 1)
        })
        return rows
    }
}
