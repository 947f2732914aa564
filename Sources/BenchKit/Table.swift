/// Plain-text tables for the benchmark tools.
public enum Table {
    /// Renders rows under a header, columns padded to their widest cell; the first column is
    /// left-aligned, the others right-aligned.
    public static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// A number with `decimals` digits after the point, grouped in thousands when it has none.
public func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "-" }
    if decimals == 0 {
        let n = Int(value.rounded())
        let digits = String(n.magnitude)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return n < 0 ? "-" + out : out
    }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (value * scale).rounded()
    let whole = Int(scaled / scale)
    let frac = Int(abs(scaled).truncatingRemainder(dividingBy: scale))
    var fracText = String(frac)
    while fracText.count < decimals { fracText = "0" + fracText }
    return "\(whole).\(fracText)"
}
