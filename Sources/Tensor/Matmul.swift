import COpenBLAS
import Foundation

/// Thin wrapper over OpenBLAS `cblas_sgemm` (row-major). OpenBLAS runs its own threads (as many as
/// cores by default), so callers never call it from inside `Parallel` workers: concurrent calls
/// are serialised by OpenBLAS 0.3.21 anyway (measured: docs/notes/2026-12-02-doc-comment-measurements.md).
public enum BLAS {
    /// `C = alpha·op(A)·op(B) + beta·C`, with op(A) M×K, op(B) K×N, C M×N, all row-major with the
    /// given leading dimensions.
    @inlinable
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Number of threads OpenBLAS uses.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// OpenBLAS build description (build target, threading).
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The kernel family OpenBLAS selected at run time (e.g. "Haswell", "Cooperlake"). OpenBLAS
    /// detects it from the CPU unless the environment variable `OPENBLAS_CORETYPE` forces one;
    /// the choice alone moves sgemm speed several-fold, so benchmark reports always carry it.
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The OpenBLAS kernel family this CPU's instruction-set flags support (`flags`: the "flags"
    /// line of /proc/cpuinfo), best first: Cooperlake (AVX-512 with BF16), SkylakeX (AVX-512
    /// F/BW/DQ/VL/CD), Haswell (AVX2 + FMA); nil for anything older.
    public static func supportedCoreType(cpuFlags flags: Set<String>) -> String? {
        let avx512: Set<String> = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
        if flags.isSuperset(of: avx512) { return flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The kernel family to force through `OPENBLAS_CORETYPE`, or nil to keep OpenBLAS's own
    /// choice. OpenBLAS picks kernels from the CPU's family/model numbers and, for a model it does
    /// not know (a virtualised "Intel(R) Xeon(R) Processor" with AVX-512, under 0.3.21), falls back
    /// to its SSE3 "Prescott" kernels, several times slower. Only that fallback is overridden, only when the environment sets no
    /// `OPENBLAS_CORETYPE` itself, and only with a family whose instructions the CPU reports.
    public static func preferredCoreType(environment: [String: String], detected: String, cpuFlags: Set<String>) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, detected.lowercased() == "prescott" else { return nil }
        return supportedCoreType(cpuFlags: cpuFlags)
    }

    /// The flags of the first processor in /proc/cpuinfo (empty where there is none).
    public static func cpuFlags(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> Set<String> {
        guard let text = cpuinfo, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}

extension Tensor {
    /// Matrix product of rank-2 tensors, optionally transposing either operand.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul needs rank-2 tensors, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition(k == kb, "matmul inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "")")
        let out = Tensor(uninitializedShape: [m, n])
        BLAS.sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                   a: a.storage.base, lda: a.shape[1], b: b.storage.base, ldb: b.shape[1],
                   c: out.storage.base, ldc: n)
        return out
    }

    /// Batched matrix product of rank-3 tensors [B, M, K] × [B, K, N] → [B, M, N]. A rank-2
    /// operand is shared by every batch element.
    public static func batchedMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition((a.rank == 3 || a.rank == 2) && (b.rank == 3 || b.rank == 2) && (a.rank == 3 || b.rank == 3),
                     "batchedMatmul needs rank-3 operands (one may be rank 2), got \(a.shape) and \(b.shape)")
        let batch = a.rank == 3 ? a.shape[0] : b.shape[0]
        if a.rank == 3 && b.rank == 3 {
            precondition(a.shape[0] == b.shape[0], "batch sizes differ: \(a.shape) and \(b.shape)")
        }
        let ar = Array(a.shape.suffix(2)), br = Array(b.shape.suffix(2))
        let m = transposeA ? ar[1] : ar[0], k = transposeA ? ar[0] : ar[1]
        let kb = transposeB ? br[1] : br[0], n = transposeB ? br[0] : br[1]
        precondition(k == kb, "batchedMatmul inner dimensions differ: \(a.shape) × \(b.shape)")
        let out = Tensor(uninitializedShape: [batch, m, n])
        let strideA = a.rank == 3 ? ar[0] * ar[1] : 0
        let strideB = b.rank == 3 ? br[0] * br[1] : 0
        for i in 0..<batch {
            BLAS.sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                       a: a.storage.base + i * strideA, lda: ar[1], b: b.storage.base + i * strideB, ldb: br[1],
                       c: out.storage.base + i * m * n, ldc: n)
        }
        return out
    }
}

extension Variable {
    /// Differentiable matrix product of rank-2 variables.
    /// Backward: dA = G·op(B)ᵀ (transposed back if A was), dB = op(A)ᵀ·G.
    public static func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
        let av = a.value, bv = b.value
        let out = Tensor.matmul(av, bv, transposeA: transposeA, transposeB: transposeB)
        return record(out, [a, b]) { g, n in
            var ga: Tensor? = nil, gb: Tensor? = nil
            if n[0] {
                ga = transposeA ? Tensor.matmul(bv, g, transposeA: transposeB, transposeB: true)
                                : Tensor.matmul(g, bv, transposeA: false, transposeB: !transposeB)
            }
            if n[1] {
                gb = transposeB ? Tensor.matmul(g, av, transposeA: true, transposeB: transposeA)
                                : Tensor.matmul(av, g, transposeA: !transposeA, transposeB: false)
            }
            return [ga, gb]
        }
    }

    /// Differentiable batched matrix product (see ``Tensor/batchedMatmul(_:_:transposeA:transposeB:)``).
    public static func batchedMatmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
        let av = a.value, bv = b.value
        let out = Tensor.batchedMatmul(av, bv, transposeA: transposeA, transposeB: transposeB)
        return record(out, [a, b]) { g, n in
            var ga: Tensor? = nil, gb: Tensor? = nil
            if n[0] {
                let full = transposeA ? Tensor.batchedMatmul(bv, g, transposeA: transposeB, transposeB: true)
                                      : Tensor.batchedMatmul(g, bv, transposeA: false, transposeB: !transposeB)
                ga = av.rank == 2 ? full.sum(axis: 0) : full
            }
            if n[1] {
                let full = transposeB ? Tensor.batchedMatmul(g, av, transposeA: true, transposeB: transposeA)
                                      : Tensor.batchedMatmul(av, g, transposeA: !transposeA, transposeB: false)
                gb = bv.rank == 2 ? full.sum(axis: 0) : full
            }
            return [ga, gb]
        }
    }
}
