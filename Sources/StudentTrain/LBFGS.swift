import Foundation

/// Limited-memory BFGS with a backtracking Armijo line search, for smooth
/// (here: strictly convex) objectives in double precision. Deterministic:
/// no randomness, a fixed order of operations.
///
/// Direction from the two-loop recursion over the last `historySize` (s, y)
/// pairs with H0 = (s.y / y.y) I (Nocedal & Wright, Alg. 7.4); pairs with
/// s.y <= 0 are skipped. The first step is scaled to length 1 / ||g||.
/// A step is accepted only if f decreases by at least 1e-4 * alpha * |g.d|
/// (Armijo), so the recorded objective values never increase.
struct LBFGS {
    /// Pairs kept.
    var historySize = 10
    var maxIterations = 500
    /// Stop when max |g_i| <= this.
    var gradientTolerance = 1e-6
    /// Stop when (f_old - f_new) <= this * max(|f_old|, |f_new|, 1) (scipy's `ftol` test).
    var relativeDecreaseTolerance = 1e-10

    /// Why `minimize` stopped.
    enum Stop: String, Sendable {
        case gradientSmall = "gradient below tolerance"
        case decreaseSmall = "relative decrease below tolerance"
        case lineSearchFailed = "line search found no decrease (objective at its precision limit)"
        case maxIterations = "iteration limit reached"
    }

    struct Result {
        var x: [Double]
        /// f at the start and after every accepted step (non-increasing).
        var values: [Double]
        var iterations: Int
        var stop: Stop
        /// max |g_i| at the returned x.
        var gradientMaxNorm: Double
    }

    /// Minimises `f`, which returns the value and the gradient at a point.
    func minimize(from x0: [Double], _ f: ([Double]) -> (Double, [Double])) -> Result {
        var x = x0
        var (fx, g) = f(x)
        var values = [fx]
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        var stop = Stop.maxIterations
        var iterations = 0
        while iterations < maxIterations {
            if maxAbs(g) <= gradientTolerance { stop = .gradientSmall; break }
            var d = direction(g, s, y, rho)
            var slope = dot(g, d)
            if !(slope < 0) {   // not a descent direction: forget the curvature pairs
                s = []; y = []; rho = []
                d = g.map { -$0 }
                slope = dot(g, d)
            }
            var alpha = s.isEmpty ? 1 / max(dot(g, g).squareRoot(), 1e-300) : 1
            var accepted: (x: [Double], f: Double, g: [Double])?
            for _ in 0..<50 {
                let xn = zip(x, d).map { $0 + alpha * $1 }
                let (fn, gn) = f(xn)
                if fn.isFinite && fn <= fx + 1e-4 * alpha * slope {
                    accepted = (xn, fn, gn)
                    break
                }
                alpha *= 0.5
            }
            guard let step = accepted else { stop = .lineSearchFailed; break }
            iterations += 1
            let sk = zip(step.x, x).map { $0 - $1 }, yk = zip(step.g, g).map { $0 - $1 }
            let sy = dot(sk, yk)
            if sy > 1e-12 * dot(yk, yk) && sy > 0 {
                s.append(sk); y.append(yk); rho.append(1 / sy)
                if s.count > historySize { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
            }
            let decrease = fx - step.f
            let fOld = fx
            (x, fx, g) = (step.x, step.f, step.g)
            values.append(fx)
            if decrease <= relativeDecreaseTolerance * max(abs(fOld), abs(fx), 1) { stop = .decreaseSmall; break }
        }
        return Result(x: x, values: values, iterations: iterations, stop: stop, gradientMaxNorm: maxAbs(g))
    }

    /// -H g by the two-loop recursion.
    private func direction(_ g: [Double], _ s: [[Double]], _ y: [[Double]], _ rho: [Double]) -> [Double] {
        var q = g
        var a = [Double](repeating: 0, count: s.count)
        for i in stride(from: s.count - 1, through: 0, by: -1) {
            a[i] = rho[i] * dot(s[i], q)
            for j in 0..<q.count { q[j] -= a[i] * y[i][j] }
        }
        if let sl = s.last, let yl = y.last {
            let gamma = dot(sl, yl) / dot(yl, yl)
            for j in 0..<q.count { q[j] *= gamma }
        }
        for i in 0..<s.count {
            let b = rho[i] * dot(y[i], q)
            for j in 0..<q.count { q[j] += (a[i] - b) * s[i][j] }
        }
        return q.map { -$0 }
    }

    private func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in 0..<a.count { s += a[i] * b[i] }
        return s
    }

    private func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }
}
