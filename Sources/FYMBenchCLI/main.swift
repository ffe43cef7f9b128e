import ArgumentParser
import EngineBenchmark
import Face
import Foundation
import Imaging
import Parallelism
import Tensor

/// The `fym-bench` command: the entry point of the suite.
struct FYMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fym-bench",
        abstract: "Reproducible CPU benchmark suite for temporally consistent portrait video editing (Follow Your Motion and baselines).",
        version: FYMBenchVersion.string,
        subcommands: [Version.self, Bench.self, Faces.self, Landmarks.self, FlowCommand.self, PairMetrics.self, MetricsList.self, DatasetsCommand.self, RunCommand.self, MergeCommand.self, ReportCommand.self, PlotCommand.self, ReproduceCommand.self, MethodsCommand.self, EditCommand.self, AvatarCommand.self, MotionCommand.self, FYMCommand.self, ConsistentAvatarCommand.self, ClipCommand.self])
}

enum FYMBenchVersion {
    static let string = "0.1.0"
}

/// Makes OpenBLAS use the kernels this CPU supports when it fell back to its SSE3 ones
/// (``BLAS/preferredCoreType(environment:detected:cpuFlags:)``): OpenBLAS reads
/// `OPENBLAS_CORETYPE` only when it is loaded, so the process starts itself again with the
/// variable set — once (the variable is set the second time) and before any work.
enum BLASKernels {
    static func useSupportedKernels() {
        let environment = ProcessInfo.processInfo.environment
        guard let core = BLAS.preferredCoreType(environment: environment, detected: BLAS.coreName, cpuFlags: BLAS.cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv returns only on failure: go on with the kernels OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version of fym-bench and of its numeric back end.")
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print only the OpenBLAS kernel family in use (make test passes it on to the test run).") var blasCore = false

    func run() throws {
        if blasCore { print(BLAS.coreName); return }
        if json {
            let info = ["version": FYMBenchVersion.string, "blas": BLAS.configuration, "blas_core": BLAS.coreName,
                        "blas_threads": "\(BLAS.threadCount)"]
            let data = try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("fym-bench \(FYMBenchVersion.string)")
            print("BLAS: \(BLAS.configuration); kernels \(BLAS.coreName), \(BLAS.threadCount) threads")
        }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks that print measured figures.", subcommands: [Engine.self, Ops.self, FaceBench.self, FlowBench.self, SplatBench.self, ClipBench.self])

    struct Ops: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the engine's heaviest ops (forward and backward) at the reference UNet's sizes.")
        @Flag(help: "Print JSON.") var json = false
        @Option(help: "Timed repetitions per op (median reported).") var runs = 10

        func validate() throws {
            guard runs >= 1 else { throw ValidationError("--runs must be ≥ 1") }
        }

        func run() throws {
            let rows = OperatorBenchmark.run(runs: runs)
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys]
                print(String(decoding: try enc.encode(rows), as: UTF8.self))
            } else {
                func padded(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
                print(padded("op", 20) + padded("shape", 20) + " forward ms  backward ms")
                for r in rows {
                    print(padded(r.op, 20) + padded("\(r.shape)", 20) + String(format: "%11.2f %12.2f", r.forward_ms, r.backward_ms))
                }
                print("BLAS kernels \(BLAS.coreName), \(BLAS.threadCount) threads; engine workers \(Parallel.workerCount)")
            }
        }
    }

    struct Engine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the tensor engine: sgemm, 3×3 convolution and the reference UNet (shared/bench/REFERENCE-UNET.md).")
        @Flag(help: "Print one JSON object.") var json = false
        @Option(help: "Timed repetitions per figure (median reported).") var runs = 10
        @Option(help: "Warm-up repetitions before timing.") var warmup = 3
        @Option(help: "UNet figures to time: all, forward or train (for profiling).") var only: EngineBenchmark.Part = .all
        @Option(help: "UNet batch size.") var batch = 8

        func validate() throws {
            guard runs >= 1, warmup >= 0, batch >= 1 else { throw ValidationError("--runs and --batch must be ≥ 1, --warmup ≥ 0") }
        }

        func run() throws {
            let report = try EngineBenchmark.run(runs: runs, warmup: warmup, batch: batch, part: only) { step in
                if !json { FileHandle.standardError.write(Data("… \(step)\n".utf8)) }
            }
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys]
                print(String(decoding: try enc.encode(report), as: UTF8.self))
            } else {
                print(String(format: "sgemm n=1024            %8.1f GFLOP/s", report.sgemm_gflops))
                print(String(format: "conv3x3 64→64 64² ×8    %8.1f GFLOP/s", report.conv3x3_gflops))
                print(String(format: "UNet forward (batch %d)  %8.1f ms", report.batch, report.unet_forward_ms))
                print(String(format: "UNet train step         %8.1f ms", report.unet_train_step_ms))
                print("UNet parameters         \(report.unet_params)")
                print(String(format: "peak RSS                %8.1f MiB", report.peak_rss_mb))
                print("BLAS                    \(report.blas); kernels \(report.blas_core), \(report.threads) threads")
            }
        }
    }
}

BLASKernels.useSupportedKernels()
FYMBench.main()

extension EngineBenchmark.Part: ExpressibleByArgument {}
