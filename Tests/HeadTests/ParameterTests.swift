import Foundation
import Head
import XCTest

/// Parameter types: defaults, validation with typed errors, Codable round trips.
final class ParameterTests: XCTestCase {
    func testExpressionSubscriptAndDefaults() {
        var e = HeadExpression()
        XCTAssertEqual(e.weights.count, ExpressionUnit.allCases.count)
        XCTAssert(e.weights.allSatisfy { $0 == 0 })
        e[.pucker] = 0.4
        XCTAssertEqual(e.weights[ExpressionUnit.pucker.index], 0.4)
        XCTAssertEqual(e[.pucker], 0.4)
        XCTAssertEqual(HeadExpression([.pucker: 0.4]), e)
        XCTAssertEqual(ExpressionUnit.allCases.count, 18)
    }

    func testValidationThrowsTypedErrors() {
        var id = HeadIdentity()
        XCTAssertNoThrow(try id.validate())
        id.shape = [1, 2]
        XCTAssertThrowsError(try id.validate()) { error in
            XCTAssertEqual(error as? HeadParameterError, .wrongCoefficientCount(what: "identity shape", got: 2, expected: HeadModel.identityCount))
        }
        var e = HeadExpression()
        e.weights[0] = .nan
        XCTAssertThrowsError(try e.validate())
        XCTAssertThrowsError(try PinholeCamera(fx: -1, fy: 1, cx: 0, cy: 0, width: 10, height: 10).validate())
        XCTAssertThrowsError(try PinholeCamera(fx: 1, fy: 1, cx: 0, cy: 0, width: 0, height: 10).validate())
        XCTAssertThrowsError(try HeadRenderSettings(samplesPerPixel: 5).validate())
        XCTAssertNoThrow(try HeadRenderSettings(samplesPerPixel: 16).validate())
        XCTAssertThrowsError(try Shared.model.validate(identity: .mean, expression: HeadExpression(), pose: HeadPose(rotation: SIMD3(.infinity, 0, 0)), camera: .portrait(width: 8, height: 8)))
        let message = HeadParameterError.wrongCoefficientCount(what: "identity shape", got: 2, expected: 20).description
        XCTAssert(message.contains("2") && message.contains("20"))
    }

    func testCodableRoundTrips() throws {
        let enc = JSONEncoder(), dec = JSONDecoder()
        let id = HeadIdentity.random(seed: 77)
        XCTAssertEqual(try dec.decode(HeadIdentity.self, from: enc.encode(id)), id)
        let e = HeadExpression([.jawOpen: 0.3, .frown: 0.1])
        XCTAssertEqual(try dec.decode(HeadExpression.self, from: enc.encode(e)), e)
        let pose = HeadPose(rotation: SIMD3(0.1, 0.2, 0.3), translation: SIMD3(0, 0, 1))
        XCTAssertEqual(try dec.decode(HeadPose.self, from: enc.encode(pose)), pose)
        let cam = PinholeCamera.portrait(width: 64, height: 48)
        XCTAssertEqual(try dec.decode(PinholeCamera.self, from: enc.encode(cam)), cam)
        let s = HeadRenderSettings(background: .textured(seed: 3), samplesPerPixel: 4)
        XCTAssertEqual(try dec.decode(HeadRenderSettings.self, from: enc.encode(s)), s)
        // An identity stored before the asymmetry modes existed (22 coefficients) reads with them at 0;
        // more coefficients than the model has is an error giving the count.
        var person = id
        person.textureSeed = 12345   // a seed JSONSerialization carries exactly
        var old = try JSONSerialization.jsonObject(with: enc.encode(person)) as! [String: Any]
        old["shape"] = Array(person.shape.prefix(HeadModel.symmetricIdentityCount))
        let padded = try dec.decode(HeadIdentity.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertEqual(padded.shape.count, HeadModel.identityCount)
        XCTAssertEqual(padded, person, "random identities have no asymmetry, so the old file describes the same person")
        old["shape"] = [Float](repeating: 0.1, count: HeadModel.identityCount + 1)
        XCTAssertThrowsError(try dec.decode(HeadIdentity.self, from: JSONSerialization.data(withJSONObject: old))) { error in
            XCTAssert("\(error)".contains("\(HeadModel.identityCount + 1) identity shape coefficients"), "\(error)")
        }
        // Expressions are stored by unit name; unknown names are an error naming the unit.
        XCTAssertThrowsError(try dec.decode(HeadExpression.self, from: Data(#"{"jawOpen": 0.2, "wink": 1}"#.utf8))) { error in
            XCTAssert("\(error)".contains("wink"))
        }
    }

    func testRandomIdentitiesVary() {
        let ids = (0..<30).map { HeadIdentity.random(seed: UInt64($0)) }
        XCTAssertEqual(Set(ids.map(\.hairStyle)).count, HeadModel.hairStyleCount, "every hair style occurs")
        XCTAssert(ids.allSatisfy { $0.shape.count == HeadModel.identityCount && $0.shape.allSatisfy { abs($0) <= 2.5 } })
        // Synthetic people are symmetric: the asymmetry modes (added for tracking real faces) stay 0,
        // so presets generated before they existed are reproduced exactly.
        XCTAssert(ids.allSatisfy { $0.shape[HeadModel.symmetricIdentityCount...].allSatisfy { $0 == 0 } })
        let tones = ids.map { $0.skinTone.x }
        XCTAssertGreaterThan(tones.max()! - tones.min()!, 0.3, "light and dark skin tones")
        XCTAssertEqual(HeadModel.identityModeNames.count, HeadModel.identityCount)
    }
}
