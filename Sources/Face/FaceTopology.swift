/// The iBUG 300-W 68-point facial landmark layout (Sagonas et al. 2013), the order dlib's
/// `shape_predictor_68_face_landmarks.dat` predicts: 0–16 jaw, 17–21 right brow, 22–26 left brow,
/// 27–35 nose (27–30 bridge, 31–35 nostrils), 36–41 right eye, 42–47 left eye, 48–59 outer lips,
/// 60–67 inner lips. "Right" is the subject's right (image left for a frontal face).
public enum FaceTopology {
    /// A named group of landmark indices.
    public enum Group: String, CaseIterable, Sendable {
        case jaw, rightBrow, leftBrow, noseBridge, nostrils, rightEye, leftEye, outerLips, innerLips

        /// Indices of the group's points, in contour order.
        public var indices: Range<Int> {
            switch self {
            case .jaw: return 0..<17
            case .rightBrow: return 17..<22
            case .leftBrow: return 22..<27
            case .noseBridge: return 27..<31
            case .nostrils: return 31..<36
            case .rightEye: return 36..<42
            case .leftEye: return 42..<48
            case .outerLips: return 48..<60
            case .innerLips: return 60..<68
            }
        }
    }

    /// Number of landmarks.
    public static let count = 68
    /// Brows (both).
    public static let brows = Array(17..<27)
    /// Nose (bridge and nostrils).
    public static let nose = Array(27..<36)
    /// Eyes (both).
    public static let eyes = Array(36..<48)
    /// Mouth (outer and inner lips): the points of the LMD-mouth metric (ARCHITECTURE.md §7).
    public static let mouth = Array(48..<68)

    /// Mean position of the points of `group`.
    public static func centroid(of group: Group, in points: [SIMD2<Double>]) -> SIMD2<Double> {
        precondition(points.count == count, "expected \(count) landmarks, got \(points.count)")
        var s = SIMD2<Double>(0, 0)
        for i in group.indices { s += points[i] }
        return s / Double(group.indices.count)
    }

    /// Inter-ocular distance: between the centres of the two eyes (mean of each eye's six
    /// points), the normaliser of landmark errors in the 300-W protocol's "pupil" variant.
    public static func interocularDistance(_ points: [SIMD2<Double>]) -> Double {
        let d = centroid(of: .rightEye, in: points) - centroid(of: .leftEye, in: points)
        return (d * d).sum().squareRoot()
    }
}
