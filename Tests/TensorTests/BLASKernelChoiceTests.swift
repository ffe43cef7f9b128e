import Tensor
import XCTest

/// The OpenBLAS kernel override: only OpenBLAS's SSE3 fallback is replaced, only when the
/// environment forces nothing, and only by a family whose instructions the CPU reports.
final class BLASKernelChoiceTests: XCTestCase {
    let avx512: Set<String> = ["sse2", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]

    func testTheFallbackIsReplacedByWhatTheFlagsSupport() {
        XCTAssertEqual(BLAS.preferredCoreType(environment: [:], detected: "Prescott", cpuFlags: avx512.union(["avx512_bf16"])), "Cooperlake")
        XCTAssertEqual(BLAS.preferredCoreType(environment: [:], detected: "Prescott", cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLAS.preferredCoreType(environment: [:], detected: "Prescott", cpuFlags: ["avx2", "fma", "sse2"]), "Haswell")
        XCTAssertNil(BLAS.preferredCoreType(environment: [:], detected: "Prescott", cpuFlags: ["sse2", "sse3"]))
    }

    func testAKnownCPUOrAnExplicitChoiceIsLeftAlone() {
        XCTAssertNil(BLAS.preferredCoreType(environment: [:], detected: "Haswell", cpuFlags: avx512))
        XCTAssertNil(BLAS.preferredCoreType(environment: ["OPENBLAS_CORETYPE": "Prescott"], detected: "Prescott", cpuFlags: avx512))
    }

    func testFlagsAreReadFromTheFirstProcessor() {
        let info = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 avx2 fma\nprocessor\t: 1\nflags\t\t: other\n"
        XCTAssertEqual(BLAS.cpuFlags(cpuinfo: info), ["fpu", "sse2", "avx2", "fma"])
        XCTAssertEqual(BLAS.cpuFlags(cpuinfo: nil), [])
    }
}
