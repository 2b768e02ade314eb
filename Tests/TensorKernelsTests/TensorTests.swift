import XCTest
@testable import TensorKernels

final class TensorTests: XCTestCase {
    func testReshapeSharesStorage() {
        let t = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let r = t.reshaped([3, 2])
        r.data[0] = 9
        XCTAssertEqual(t.array[0], 9)
        XCTAssertEqual(r.shape, [3, 2])
    }

    func testCopyIsIndependent() {
        let t = Tensor(shape: [2], values: [1, 2])
        let c = t.copy()
        c.data[0] = 7
        XCTAssertEqual(t.array, [1, 2])
    }

    func testGemmMatchesHandComputedProduct() {
        // (2x3) * (3x2)
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        let b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: 0, count: 4)
        gemm(m: 2, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, c: &c, ldc: 2)
        XCTAssertEqual(c, [58, 64, 139, 154])
    }
}
