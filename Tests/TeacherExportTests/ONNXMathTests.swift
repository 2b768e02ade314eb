import Foundation
import XCTest
@testable import TeacherExport
import TensorKernels

/// The vectorisable approximations used by the engine against libm (double precision).
final class ONNXMathTests: XCTestCase {
    func testFastErfMatchesLibm() {
        var worst = 0.0
        for i in -60000...60000 {
            let x = Float(i) / 10000   // [-6, 6]
            worst = max(worst, abs(Double(fastErf(x)) - erf(Double(x))))
        }
        XCTAssertLessThan(worst, 5e-7, "max |fastErf - erf| (a few float ulps near 1)")
    }

    func testFastExpMatchesLibm() {
        var worst = 0.0
        for i in -87000...88000 {
            let x = Float(i) / 1000
            let ref = exp(Double(x))
            worst = max(worst, abs(Double(fastExp(x)) - ref) / ref)
        }
        XCTAssertLessThan(worst, 4e-7, "max relative error of fastExp")
        XCTAssertEqual(fastExp(-200), 0)
        XCTAssertEqual(fastExp(0), 1)
    }

    func testFastSoftmaxMatchesReference() throws {
        let x = TestGraph.input([37, 257]).copy()
        for i in 0..<x.count { x.data[i] *= 20 }
        let out = Tensor(zeros: x.shape)
        softmaxLastAxisForward(out.data, x.data, rows: 37, length: 257)
        for r in 0..<37 {
            let row = (0..<257).map { Double(x.data[r * 257 + $0]) }
            let m = row.max()!
            let e = row.map { exp($0 - m) }, s = e.reduce(0, +)
            for j in 0..<257 { XCTAssertEqual(Double(out.data[r * 257 + j]), e[j] / s, accuracy: 1e-6 * max(1, e[j] / s)) }
        }
    }
}
