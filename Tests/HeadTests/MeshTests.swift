import Head
import XCTest

/// The mesh is made of closed, consistently oriented 2-manifolds without degenerate triangles.
final class MeshTests: XCTestCase {
    func testEveryPartIsClosedAndOriented() {
        let m = Shared.model
        let parts = m.closedParts
        XCTAssertEqual(parts.map(\.name), ["skin", "eyeRight", "eyeLeft", "earRight", "earLeft", "teethUpper", "teethLower"])
        XCTAssertEqual(parts.last!.triangles.upperBound, m.triangles.count, "every triangle belongs to a part")
        for (name, range) in parts {
            // Every directed edge once, and its reverse once: each edge is shared by exactly two
            // triangles with opposite orientation (closed, oriented 2-manifold).
            var directed = Set<Int64>()
            var duplicates = 0
            for t in range {
                let tri = m.triangles[t]
                for (a, b) in [(tri.x, tri.y), (tri.y, tri.z), (tri.z, tri.x)] {
                    if !directed.insert(Int64(a) << 32 | Int64(b)).inserted { duplicates += 1 }
                }
            }
            XCTAssertEqual(duplicates, 0, "\(name): an edge is used twice in the same direction")
            var unmatched = 0
            for e in directed where !directed.contains((e & 0xFFFF_FFFF) << 32 | (e >> 32)) { unmatched += 1 }
            XCTAssertEqual(unmatched, 0, "\(name): \(unmatched) boundary edges")
            // Vertex-manifold: Euler characteristic of a sphere (V − E + F = 2).
            var verts = Set<Int32>()
            for t in range { let tri = m.triangles[t]; verts.insert(tri.x); verts.insert(tri.y); verts.insert(tri.z) }
            XCTAssertEqual(verts.count - directed.count / 2 + range.count, 2, "\(name): not a topological sphere")
            // Outward orientation: positive enclosed volume.
            var volume: Double = 0
            for t in range {
                let tri = m.triangles[t]
                let a = SIMD3<Double>(m.neutralVertices[Int(tri.x)]), b = SIMD3<Double>(m.neutralVertices[Int(tri.y)]), c = SIMD3<Double>(m.neutralVertices[Int(tri.z)])
                volume += (a.x * (b.y * c.z - b.z * c.y) - a.y * (b.x * c.z - b.z * c.x) + a.z * (b.x * c.y - b.y * c.x)) / 6
            }
            XCTAssertGreaterThan(volume, 0, "\(name): inward-facing")
        }
    }

    func testNoDegenerateTriangles() {
        let m = Shared.model
        var smallest = Double.infinity
        for tri in m.triangles {
            XCTAssert(tri.x != tri.y && tri.y != tri.z && tri.x != tri.z)
            let a = SIMD3<Double>(m.neutralVertices[Int(tri.x)]), b = SIMD3<Double>(m.neutralVertices[Int(tri.y)]), c = SIMD3<Double>(m.neutralVertices[Int(tri.z)])
            let u = b - a, v = c - a
            let n = SIMD3(u.y * v.z - u.z * v.y, u.z * v.x - u.x * v.z, u.x * v.y - u.y * v.x)
            smallest = min(smallest, (n * n).sum().squareRoot() / 2)
        }
        // The smallest triangle (a lid-corner sliver) is still above 0.01 mm².
        XCTAssertGreaterThan(smallest, 1e-8, "smallest triangle area \(smallest) m²")
    }

    func testHeadDimensionsAreHuman() {
        let v = Shared.model.neutralVertices
        let skin = Shared.model.skinTriangles
        var lo = SIMD3<Float>(repeating: .infinity), hi = SIMD3<Float>(repeating: -.infinity)
        for t in skin { let tri = Shared.model.triangles[t]; for i in [tri.x, tri.y, tri.z] { lo = pointwiseMin(lo, v[Int(i)]); hi = pointwiseMax(hi, v[Int(i)]) } }
        // Head breadth ~15 cm, head length (glabella–opisthocranion) ~19 cm.
        XCTAssertEqual(hi.x - lo.x, 0.15, accuracy: 0.01)
        XCTAssertEqual(hi.z - lo.z, 0.20, accuracy: 0.015)
    }

    func testIdentityShapesStayFiniteAndDiffer() {
        let m = Shared.model
        let a = m.vertices(identity: .random(seed: 1), expression: HeadExpression())
        let b = m.vertices(identity: .random(seed: 2), expression: HeadExpression())
        XCTAssert(a.allSatisfy { $0.x.isFinite && $0.y.isFinite && $0.z.isFinite })
        var maxDiff: Float = 0
        for i in a.indices { maxDiff = max(maxDiff, ((a[i] - b[i]) * (a[i] - b[i])).sum().squareRoot()) }
        XCTAssertGreaterThan(maxDiff, 0.004, "two random people should differ by millimetres")
        XCTAssertLessThan(maxDiff, 0.05)
    }
}
