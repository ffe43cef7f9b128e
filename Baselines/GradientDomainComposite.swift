import Foundation
import Imaging
import Parallelism

/// Seamless compositing of several aligned candidate images chosen per pixel (gradient-domain
/// compositing: Pérez et al., "Poisson Image Editing", SIGGRAPH 2003; Agarwala et al.,
/// "Interactive Digital Photomontage", SIGGRAPH 2004 — and EbSynth's blending of its two
/// propagated syntheses). The target gradient on an edge between two pixels is that of the
/// candidate both pixels chose, or the mean of the two candidates' gradients where the choice
/// changes (a seam); the result solves
///
///     min_O  Σ_edges ((O_x − O_y) − g_xy)²  +  w Σ_x (O_x − C_x)²
///
/// with C the hard per-pixel composite and a weak `anchor` weight w that only fixes the overall
/// level: a step between candidates at a seam is spread over ~1/√w pixels instead of showing.
/// Solved as the correction O − C with ``ScreenedPoisson/solveCorrection``.
public enum GradientDomainComposite {
    /// Per pixel the colour of the candidate `labels[i]` names.
    public static func hardComposite(_ candidates: [Image], labels: [Int]) -> Image {
        let plane = candidates[0].width * candidates[0].height, channels = candidates[0].channels
        var composite = candidates[0]
        for i in 0..<plane where labels[i] != 0 {
            for c in 0..<channels { composite.pixels[c * plane + i] = candidates[labels[i]].pixels[c * plane + i] }
        }
        return composite
    }

    /// `labels[i]` indexes `candidates` (all the same size and channel count).
    public static func compose(_ candidates: [Image], labels: [Int], anchor: Float = 0.01, levels: Int = 6, iterations: Int = 50) -> Image {
        precondition(!candidates.isEmpty, "composite: no candidates")
        let w = candidates[0].width, h = candidates[0].height, plane = w * h, channels = candidates[0].channels
        precondition(labels.count == plane && candidates.allSatisfy { $0.width == w && $0.height == h && $0.channels == channels },
                     "composite: sizes differ")
        var composite = hardComposite(candidates, labels: labels)
        // Nothing to blend without a seam.
        var seams = false
        for y in 0..<h where !seams {
            for x in 0..<w {
                let i = y * w + x
                if (x + 1 < w && labels[i + 1] != labels[i]) || (y + 1 < h && labels[i + w] != labels[i]) { seams = true; break }
            }
        }
        if !seams { return composite }
        let weight = [Float](repeating: anchor, count: plane)
        var corrections = [[Float]](repeating: [], count: channels)
        corrections.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(channels, costPerItem: Parallel.minimumParallelElements) { c in
                let base = c * plane
                // r_x = Σ_y (g_xy − (C_x − C_y)): non-zero only beside seams.
                var rhs = [Float](repeating: 0, count: plane)
                func edge(_ i: Int, _ j: Int) {
                    guard labels[i] != labels[j] else { return }
                    let a = candidates[labels[i]].pixels, b = candidates[labels[j]].pixels
                    let target = 0.5 * ((a[base + i] - a[base + j]) + (b[base + i] - b[base + j]))
                    let mismatch = target - (composite.pixels[base + i] - composite.pixels[base + j])
                    rhs[i] += mismatch
                    rhs[j] -= mismatch
                }
                for y in 0..<h {
                    for x in 0..<w {
                        let i = y * w + x
                        if x + 1 < w { edge(i, i + 1) }
                        if y + 1 < h { edge(i, i + w) }
                    }
                }
                out[c] = ScreenedPoisson.solveCorrection(rhs: rhs, weight: weight, width: w, height: h, levels: levels, iterations: iterations)
            }
        }
        for c in 0..<channels {
            for i in 0..<plane { composite.pixels[c * plane + i] += corrections[c][i] }
        }
        return composite
    }
}
