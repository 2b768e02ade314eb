import Foundation

/// Draws the sweep's plots with tools/plot_sweep.py (matplotlib) when Python is available.
enum SweepPlotter {
    /// Runs the script and returns one line saying where the plots went or why there are none.
    static func plot(results csv: URL, outDirectory: URL) -> String {
        if let reason = ToolScript.run("tools/plot_sweep.py", [csv.path, "--out", outDirectory.path]) {
            return "plots: skipped, \(reason); the tables are written"
        }
        return "plots: \(outDirectory.path)"
    }
}
