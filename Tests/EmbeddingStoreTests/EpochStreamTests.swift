import XCTest
@testable import EmbeddingStore

/// Epoch plans and streams: one view per image per epoch, views cycle before
/// repeating, reproducible from (seed, epoch), batch sizes, filters, prefetch.
final class EpochStreamTests: XCTestCase {
    // 13 images x 3 views, 4 of them synthetic; one image gets a 4th view below.
    static let spec = SyntheticStore(seed: 3, images: 13, realImages: 9, viewsPerImage: 3, embeddingDim: 8,
                                     embeddingType: .float16, logitsDim: nil, inputSize: 4, classes: 3)
    var dir: TempDir!
    var reader: StoreReader!

    override func setUpWithError() throws {
        dir = try TempDir()
        try writeStore(Self.spec, at: dir.path("epochs.h5"))
        reader = try StoreReader(path: dir.path("epochs.h5"))
    }

    func testEveryImageOncePerEpochAndViewsCycle() throws {
        var shown = [Set<Int32>](repeating: [], count: 13)
        for epoch in 0..<9 {
            let plan = EpochPlan(reader: reader, seed: 42, epoch: epoch)
            XCTAssertEqual(plan.records.count, 13)
            XCTAssertEqual(Set(plan.records.map { reader.imageIndices[$0] }), Set(0..<13))
            // Within each cycle of 3 epochs every image shows 3 distinct views.
            if epoch % 3 == 0 { shown = [Set<Int32>](repeating: [], count: 13) }
            for r in plan.records {
                let image = Int(reader.imageIndices[r])
                XCTAssertFalse(shown[image].contains(reader.viewIndices[r]), "view repeated within a cycle")
                shown[image].insert(reader.viewIndices[r])
            }
            XCTAssertEqual(plan.repeatedViews, epoch < 3 ? 0 : 13)
        }
    }

    func testSeedReproducibilityAndVariation() throws {
        let a = EpochPlan(reader: reader, seed: 5, epoch: 4)
        XCTAssertEqual(a, EpochPlan(reader: reader, seed: 5, epoch: 4))
        XCTAssertNotEqual(a.records, EpochPlan(reader: reader, seed: 6, epoch: 4).records)
        XCTAssertNotEqual(a.records, EpochPlan(reader: reader, seed: 5, epoch: 5).records)
        // The order is a real shuffle, not image order.
        XCTAssertNotEqual(a.records.map { reader.imageIndices[$0] }, (0..<13).map(Int64.init))
    }

    func testFilters() throws {
        let real = EpochPlan(reader: reader, seed: 1, epoch: 0, filter: .real)
        XCTAssertEqual(Set(real.records.map { reader.imageIndices[$0] }), Set(0..<9))
        XCTAssertTrue(real.records.allSatisfy { !reader.synthetic[$0] })
        let synthetic = EpochPlan(reader: reader, seed: 1, epoch: 0, filter: .synthetic)
        XCTAssertEqual(Set(synthetic.records.map { reader.imageIndices[$0] }), Set(9..<13))
    }

    func testUnevenViewCountsRepeatOnlyImagesThatRanOut() throws {
        // Image 0 has views 0,1,2 in the records; a plan over a hand-made table
        // where image 1 has 1 view and image 0 has 3.
        let plan = (0..<3).map {
            EpochPlan(imageIndices: [0, 0, 0, 1], viewIndices: [0, 1, 2, 0], synthetic: [false, false, false, false],
                      imageCount: 2, seed: 9, epoch: $0, filter: .all)
        }
        XCTAssertEqual(plan.map(\.repeatedViews), [0, 1, 1])
        XCTAssertEqual(Set(plan.flatMap { $0.records.filter { $0 < 3 } }), [0, 1, 2])
    }

    func testBatchSizesIncludingLastPartial() throws {
        let plan = EpochPlan(reader: reader, seed: 2, epoch: 1)
        XCTAssertEqual(plan.batches(size: 5).map(\.count), [5, 5, 3])
        XCTAssertEqual(plan.batches(size: 5, dropLast: true).map(\.count), [5, 5])
        XCTAssertEqual(plan.batches(size: 13).map(\.count), [13])
        XCTAssertEqual(plan.batches(size: 5).flatMap { $0 }, plan.records)
    }

    func testStreamYieldsThePlanWithItsData() throws {
        for readers in [1, 2, 3] { try streamYieldsThePlan(readers: readers) }
    }

    func streamYieldsThePlan(readers: Int) throws {
        let stream = reader.epochStream(seed: 8, epoch: 2, batchSize: 4, prefetch: 2, readers: readers)
        XCTAssertEqual(stream.batchCount, 4)
        var seen: [Int] = []
        var index = 0
        while let batch = try stream.next() {
            XCTAssertEqual(batch.index, index)
            XCTAssertEqual(batch.epoch, 2)
            XCTAssertEqual(batch.recordIndices, stream.plan.batches(size: 4)[index].sorted())
            XCTAssertEqual(batch.records, try reader.read(records: batch.recordIndices))
            seen += batch.recordIndices
            index += 1
        }
        XCTAssertEqual(index, 4)
        XCTAssertEqual(seen.sorted(), stream.plan.records.sorted())
        XCTAssertNil(try stream.next())
    }

    func testDroppingAStreamEarlyStopsItsThread() throws {
        for i in 0..<20 {
            let stream = reader.epochStream(seed: 1, epoch: 0, batchSize: 1, prefetch: 1, readers: 1 + i % 2)
            _ = try stream.next()
        }
        let stream = reader.epochStream(seed: 1, epoch: 0, batchSize: 2)
        stream.cancel()
        XCTAssertNil(try stream.next())
    }
}
