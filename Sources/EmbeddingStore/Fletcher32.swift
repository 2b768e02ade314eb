/// HDF5's Fletcher32 checksum (H5_checksum_fletcher32), bit for bit, computed
/// fast enough to verify pixel chunks read directly (HDF5's own byte-at-a-time
/// loop was the largest cost of the epoch stream).
///
/// Definition: the data is a sequence of big-endian 16-bit words (an odd last
/// byte is the high byte of a final word); sum1 += w, sum2 += sum1 for each word
/// in uint32 arithmetic, and after every block of 360 words (and at the end)
/// each sum is folded as s = (s & 0xffff) + (s >> 16). The result is
/// (sum2 << 16) | sum1. Here each block's two sums are computed in closed form:
/// sum1' = sum1 + S, sum2' = sum2 + n*sum1 + T with S = sum(w_k) and
/// T = sum((n - k) * w_k) (eight words per SIMD step), then truncated to 32 bits
/// as HDF5's wrapping adds do.
enum Fletcher32 {
    static func checksum(_ data: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = data.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        let words = data.count / 2
        var sum1: UInt32 = 0, sum2: UInt32 = 0
        var start = 0
        while start < words {
            let n = min(360, words - start)
            let (s, t) = blockSums(base + 2 * start, words: n)
            sum2 = UInt32(truncatingIfNeeded: UInt64(sum2) &+ UInt64(n) &* UInt64(sum1) &+ UInt64(t))
            sum1 &+= s
            sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
            sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
            start += n
        }
        if data.count % 2 == 1 {
            sum1 &+= UInt32(base[data.count - 1]) << 8
            sum2 &+= sum1
            sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
            sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
        }
        sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
        sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
        return sum2 << 16 | sum1
    }

    /// S = sum(w_k) and T = sum((n - k) * w_k) over one block of n <= 360 words,
    /// eight words per SIMD step. T <= 65535 * 360 * 361 / 2 < 2^32, so neither
    /// the 32-bit lanes nor their sums can overflow.
    @inline(__always)
    private static func blockSums(_ block: UnsafePointer<UInt8>, words n: Int) -> (UInt32, UInt32) {
        let raw = UnsafeRawPointer(block)
        let lane = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7)
        var sv = SIMD8<UInt32>(), tv = SIMD8<UInt32>()
        var k = 0
        while k + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: 2 &* k, as: SIMD8<UInt16>.self)
            let w = SIMD8<UInt32>(truncatingIfNeeded: (v &<< 8) | (v &>> 8))  // big-endian words
            sv &+= w
            tv &+= w &* (SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: n &- k)) &- lane)
            k &+= 8
        }
        var s = sv.wrappedSum(), t = tv.wrappedSum()
        while k < n {
            let w = UInt32(block[2 &* k]) << 8 | UInt32(block[2 &* k &+ 1])
            s &+= w
            t &+= UInt32(truncatingIfNeeded: n &- k) &* w
            k &+= 1
        }
        return (s, t)
    }

    /// The reference: HDF5's word-by-word loop, for tests of the closed form.
    static func referenceChecksum(_ data: [UInt8]) -> UInt32 {
        var sum1: UInt32 = 0, sum2: UInt32 = 0
        var remaining = data.count / 2, i = 0
        while remaining > 0 {
            var block = min(360, remaining)
            remaining -= block
            while block > 0 {
                sum1 &+= UInt32(data[i]) << 8 | UInt32(data[i + 1])
                sum2 &+= sum1
                i += 2
                block -= 1
            }
            sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
            sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
        }
        if data.count % 2 == 1 {
            sum1 &+= UInt32(data[i]) << 8
            sum2 &+= sum1
            sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
            sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
        }
        sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
        sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
        return sum2 << 16 | sum1
    }

    /// Whether the 4 bytes HDF5 stored after a chunk match `checksum`. HDF5
    /// stores the value little-endian and also accepts the pair-swapped value
    /// written by releases before 1.6.3.
    static func matches(stored bytes: UnsafeRawPointer, _ checksum: UInt32) -> Bool {
        let stored = UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self))
        let swapped = (checksum & 0x00ff_00ff) << 8 | (checksum & 0xff00_ff00) >> 8
        return stored == checksum || stored == swapped
    }
}
