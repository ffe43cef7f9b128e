import Head
import XCTest

/// Each expression unit moves its own region and leaves the others nearly still (256×256 frames,
/// default camera, the mean face; distances in pixels, the inter-ocular distance is ~60 px).
final class ExpressionTests: XCTestCase {
    let neutral = Shared.landmarks(HeadExpression())

    func moved(_ u: ExpressionUnit, _ w: Float = 1) -> [SIMD2<Float>] { Shared.landmarks(HeadExpression([u: w])) }

    func shift(_ a: [SIMD2<Float>], _ i: Int) -> SIMD2<Float> { a[i] - neutral[i] }

    /// Largest landmark motion over `indices`.
    func maxMotion(_ a: [SIMD2<Float>], _ indices: [Int]) -> Float {
        indices.map { Shared.distance(a[$0], neutral[$0]) }.max()!
    }

    let eyes = Array(36...47), brows = Array(17...26), mouth = Array(48...67), nose = Array(27...35)

    func testJawOpenLowersChinAndLowerLip() {
        let a = moved(.jawOpen)
        XCTAssertGreaterThan(shift(a, 8).y, 8, "chin")
        XCTAssertGreaterThan(shift(a, 57).y, 6, "lower lip")
        XCTAssertGreaterThan(shift(a, 66).y, 6, "lower inner lip")
        XCTAssertLessThan(abs(shift(a, 62).y), 1.0, "upper inner lip stays")
        XCTAssertGreaterThan(Shared.distance(a[62], a[66]), 10, "the mouth opens")
        XCTAssertLessThan(maxMotion(a, eyes + brows + nose), 0.3)
    }

    func testBlinksCloseOneEyeEach() {
        func openness(_ a: [SIMD2<Float>], right: Bool) -> Float {
            right ? Shared.distance(a[37], a[41]) + Shared.distance(a[38], a[40])
                  : Shared.distance(a[43], a[47]) + Shared.distance(a[44], a[46])
        }
        let left = moved(.blinkLeft), right = moved(.blinkRight)
        // blinkLeft closes the subject's left eye (landmarks 42–47).
        XCTAssertLessThan(openness(left, right: false), 0.1 * openness(neutral, right: false))
        XCTAssertEqual(openness(left, right: true), openness(neutral, right: true), accuracy: 0.05)
        XCTAssertLessThan(openness(right, right: true), 0.1 * openness(neutral, right: true))
        XCTAssertEqual(openness(right, right: false), openness(neutral, right: false), accuracy: 0.05)
        // Half a blink is half closed.
        let half = moved(.blinkLeft, 0.5)
        XCTAssertEqual(openness(half, right: false) / openness(neutral, right: false), 0.5, accuracy: 0.15)
        XCTAssertLessThan(maxMotion(left, mouth + nose + Array(36...41)), 0.3)
    }

    func testSmilesRaiseOneCorner() {
        let l = moved(.smileLeft), r = moved(.smileRight)
        XCTAssertLessThan(shift(l, 54).y, -2.5, "left corner up")
        XCTAssertGreaterThan(shift(l, 54).x, 1.5, "left corner out")
        XCTAssertLessThan(Shared.distance(l[48], neutral[48]), 0.35 * Shared.distance(l[54], neutral[54]))
        XCTAssertLessThan(shift(r, 48).y, -2.5, "right corner up")
        XCTAssertLessThan(shift(r, 48).x, -1.5, "right corner out")
        XCTAssertLessThan(maxMotion(l, brows + Array(27...30)), 0.5)
    }

    func testPuckerNarrowsAndStretchWidensTheMouth() {
        let w0 = Shared.distance(neutral[48], neutral[54])
        let pucker = moved(.pucker), stretch = moved(.lipStretch)
        XCTAssertLessThan(Shared.distance(pucker[48], pucker[54]), w0 - 4)
        XCTAssertGreaterThan(Shared.distance(stretch[48], stretch[54]), w0 + 3)
        XCTAssertLessThan(maxMotion(pucker, eyes + brows), 0.3)
        XCTAssertLessThan(maxMotion(stretch, eyes + brows), 0.3)
    }

    func testBrowRaiseAndFrown() {
        let raise = moved(.browRaise), frown = moved(.frown)
        for i in brows { XCTAssertLessThan(shift(raise, i).y, -1.5, "brow point \(i) up") }
        XCTAssertLessThan(maxMotion(raise, mouth + nose + [36, 39, 40, 41, 42, 45, 46, 47]), 0.6)
        XCTAssertGreaterThan(shift(frown, 21).y, 1.0, "inner brows down")
        XCTAssertGreaterThan(shift(frown, 22).y, 1.0)
        XCTAssertLessThan(Shared.distance(frown[21], frown[22]), Shared.distance(neutral[21], neutral[22]) - 1.5, "inner brows together")
        XCTAssertLessThan(maxMotion(frown, mouth + eyes), 0.6)
    }

    func testOuterBrowRaiseAndEyeWidenActOnOneSide() {
        // Subject's left = landmarks 22–26 (brow) and 42–47 (eye), image right.
        let brow = moved(.browOuterRaiseLeft)
        XCTAssertLessThan(shift(brow, 26).y, -2.0, "left outer brow end up")
        XCTAssertLessThan(shift(brow, 26).y, shift(brow, 22).y - 1.0, "the outer end rises more than the inner")
        XCTAssertLessThan(maxMotion(brow, Array(17...21) + mouth + nose + Array(36...41)), 0.3)
        let browRight = moved(.browOuterRaiseRight)
        XCTAssertLessThan(shift(browRight, 17).y, -2.0, "right outer brow end up")
        XCTAssertLessThan(maxMotion(browRight, Array(22...26)), 0.3)

        func openness(_ a: [SIMD2<Float>], right: Bool) -> Float {
            right ? Shared.distance(a[37], a[41]) + Shared.distance(a[38], a[40])
                  : Shared.distance(a[43], a[47]) + Shared.distance(a[44], a[46])
        }
        let widen = moved(.eyeWidenLeft)
        XCTAssertGreaterThan(openness(widen, right: false), 1.2 * openness(neutral, right: false), "left eye opens wider")
        XCTAssertLessThan(shift(widen, 43).y, -0.5, "by raising the upper lid")
        XCTAssertLessThan(maxMotion(widen, [46, 47] + Array(36...41) + mouth + nose + brows), 0.3, "lower lid and the rest stay")
        let widenRight = moved(.eyeWidenRight)
        XCTAssertGreaterThan(openness(widenRight, right: true), 1.2 * openness(neutral, right: true))
        XCTAssertLessThan(maxMotion(widenRight, Array(42...47)), 0.3)
    }

    func testMouthShiftAndLipRaiseUnits() {
        // mouthLeft moves the lips toward the subject's left: +x in the image.
        let left = moved(.mouthLeft), right = moved(.mouthRight)
        for i in [48, 51, 54, 57, 62, 66] {
            XCTAssertGreaterThan(shift(left, i).x, 1.5, "lip point \(i) to the subject's left")
            XCTAssertLessThan(shift(right, i).x, -1.5, "lip point \(i) to the subject's right")
        }
        XCTAssertLessThan(maxMotion(left, eyes + brows), 0.3)
        let upper = moved(.upperLipRaise), lower = moved(.lowerLipDepress)
        XCTAssertLessThan(shift(upper, 51).y, -1.5, "upper lip up")
        XCTAssertLessThan(abs(shift(upper, 57).y), 0.5, "lower lip stays")
        XCTAssertGreaterThan(shift(lower, 57).y, 1.5, "lower lip down")
        XCTAssertLessThan(abs(shift(lower, 51).y), 0.5, "upper lip stays")
        XCTAssertLessThan(maxMotion(upper, eyes + brows), 0.3)
        XCTAssertLessThan(maxMotion(lower, eyes + brows), 0.3)
    }

    /// Symmetric identity modes keep the face mirror-symmetric; the asymmetry modes move the
    /// subject's left and right sides apart in the direction their names say.
    func testAsymmetryModes() {
        func landmarks(_ k: Int) -> [SIMD2<Float>] {
            var id = HeadIdentity.mean
            id.shape[k] = 1
            return Shared.landmarks(HeadExpression(), identity: id)
        }
        // iBUG mirror pairs: jaw i ↔ 16−i, brows 17+i ↔ 26−i, eyes, nose wings, mouth corners.
        let pairs = (0...7).map { ($0, 16 - $0) } + (0...4).map { (17 + $0, 26 - $0) } + [(36, 45), (39, 42), (31, 35), (48, 54)]
        let centreX = (neutral[36].x + neutral[45].x) / 2
        func asymmetry(_ l: [SIMD2<Float>]) -> Float {
            pairs.map { a, b in abs((l[a].x - centreX) + (l[b].x - centreX)) + abs(l[a].y - l[b].y) }.max()!
        }
        let base = asymmetry(neutral)
        for k in 0..<HeadModel.symmetricIdentityCount {
            XCTAssertLessThan(asymmetry(landmarks(k)), base + 0.2, "\(HeadModel.identityModeNames[k]) is symmetric")
        }
        XCTAssertEqual(HeadModel.identityModeNames[HeadModel.symmetricIdentityCount], "jawAsymmetry")
        let jaw = landmarks(HeadModel.symmetricIdentityCount)
        XCTAssertGreaterThan(shift(jaw, 13).y, 0.5, "left jaw lower")
        XCTAssertLessThan(shift(jaw, 3).y, -0.5, "right jaw higher")
        let eye = landmarks(HeadModel.symmetricIdentityCount + 1)
        XCTAssertGreaterThan(shift(eye, 45).y, 0.5)
        XCTAssertLessThan(shift(eye, 36).y, -0.5)
        let brow = landmarks(HeadModel.symmetricIdentityCount + 2)
        XCTAssertGreaterThan(shift(brow, 24).y, 0.5)
        XCTAssertLessThan(shift(brow, 19).y, -0.5)
        let mouthOffset = landmarks(HeadModel.symmetricIdentityCount + 3)
        for i in [48, 51, 54, 57] { XCTAssertGreaterThan(shift(mouthOffset, i).x, 0.5) }
        let chin = landmarks(HeadModel.symmetricIdentityCount + 4)
        XCTAssertGreaterThan(shift(chin, 8).x, 0.5)
        XCTAssertLessThan(maxMotion(chin, eyes + brows), 0.1)
        for k in HeadModel.symmetricIdentityCount..<HeadModel.identityCount {
            XCTAssertGreaterThan(asymmetry(landmarks(k)), base + 0.5, "\(HeadModel.identityModeNames[k]) breaks the symmetry")
        }
    }

    func testCheekPuffMovesOnlyTheCheeks() {
        let m = Shared.model
        let v0 = m.vertices(identity: .mean, expression: HeadExpression())
        let v1 = m.vertices(identity: .mean, expression: HeadExpression([.cheekPuff: 1]))
        var cheek: Float = 0, elsewhere: Float = 0
        for i in v0.indices {
            let d = ((v1[i] - v0[i]) * (v1[i] - v0[i])).sum().squareRoot()
            let p = v0[i]
            if abs(p.x) > 0.03 && p.y > 0.04 && p.y < 0.08 && p.z < -0.04 { cheek = max(cheek, d) }
            if p.y < 0.0 || abs(p.x) < 0.01 { elsewhere = max(elsewhere, d) }
        }
        XCTAssertGreaterThan(cheek, 0.005, "cheeks move by millimetres")
        XCTAssertLessThan(elsewhere, 0.0015, "eyes, brows and the midline barely move")
        XCTAssertLessThan(maxMotion(Shared.landmarks(HeadExpression([.cheekPuff: 1])), eyes + brows), 0.3)
    }

    func testGazeTurnsOnlyTheEyeballs() {
        let m = Shared.model
        var e = HeadExpression()
        e.gaze = SIMD2(0.3, -0.1)
        let v0 = m.vertices(identity: .mean, expression: HeadExpression())
        let v1 = m.vertices(identity: .mean, expression: e)
        let eyeVertices = Set(m.closedParts.filter { $0.name.hasPrefix("eye") }.flatMap { r in
            r.triangles.flatMap { t -> [Int] in let tri = m.triangles[t]; return [Int(tri.x), Int(tri.y), Int(tri.z)] }
        })
        for i in v0.indices where !eyeVertices.contains(i) { XCTAssertEqual(v1[i], v0[i]) }
        // The pupil (front pole of each eyeball: its most forward vertex) turns toward the
        // image left (−x) for positive yaw and up (−y) for negative pitch.
        for part in m.closedParts where part.name.hasPrefix("eye") {
            let front = part.triangles.map { Int(m.triangles[$0].x) }.min { v0[$0].z < v0[$1].z }!
            XCTAssertLessThan(v1[front].x, v0[front].x - 0.003)
            XCTAssertLessThan(v1[front].y, v0[front].y - 0.0005)
        }
        // Looking at the camera from a turned head turns the eyes back toward it.
        let pose = HeadPose(rotation: SIMD3(0.3, 0, 0))
        XCTAssertEqual(pose.gaze().x, -0.3, accuracy: 0.06)
        XCTAssertEqual(HeadPose.default.gaze().x, 0, accuracy: 1e-4)
    }

    func testIdentityModesAreLocalAndMeasurable() {
        let m = Shared.model
        let v0 = m.vertices(identity: .mean, expression: HeadExpression())
        for k in 0..<HeadModel.identityCount {
            var id = HeadIdentity.mean
            id.shape[k] = 1
            let v1 = m.vertices(identity: id, expression: HeadExpression())
            let d = v0.indices.map { ((v1[$0] - v0[$0]) * (v1[$0] - v0[$0])).sum().squareRoot() }
            XCTAssertGreaterThan(d.max()!, 0.001, "\(HeadModel.identityModeNames[k]) moves something by ≥1 mm")
            XCTAssertLessThan(d.max()!, 0.012, "\(HeadModel.identityModeNames[k]) stays within a standard deviation's reach")
        }
    }

    func testEyeballsAndSkullAreRigidUnderExpressions() {
        let m = Shared.model
        var e = HeadExpression()
        for u in ExpressionUnit.allCases { e[u] = 0.7 }
        let v0 = m.vertices(identity: .mean, expression: HeadExpression())
        let v1 = m.vertices(identity: .mean, expression: e)
        // The top of the head (crown) and the eyeballs do not move.
        func moved(_ i: Int) -> Float { ((v1[i] - v0[i]) * (v1[i] - v0[i])).sum().squareRoot() }
        let crown = v0.indices.filter { v0[$0].y < -0.09 }
        XCTAssertLessThan(crown.map(moved).max()!, 1e-6)
        for (name, range) in m.closedParts where name.hasPrefix("eye") {
            XCTAssertEqual(range.map { moved(Int(m.triangles[$0].x)) }.max()!, 0, name)
        }
    }
}
