extension BPF {
    /// BCC's `b["dist"].print_log2_hist()`, as a value: the slots of a log2 histogram map. The
    /// map is an array or per-CPU array of u64 (slot = index), or a hash of u32/u64 slot -> u64
    /// (BCC's BPF_HISTOGRAM); per-CPU values are summed.
    /// - Throws: `BPFError(.wrongMapType)` for any other shape.
    public func log2Histogram(_ mapName: String, unit: String = "value") throws -> Log2Histogram {
        Log2Histogram(unit: unit, slots: try slots(mapName))
    }

    /// BCC's `print_linear_hist()`: slot i counts values in [start + i*step, start + (i+1)*step),
    /// from a map of the shapes `log2Histogram` reads.
    /// - Throws: `BPFError(.notFound)` for an unknown map, `.wrongMapType` for any other shape.
    public func linearHistogram(_ mapName: String, unit: String = "value", start: UInt64 = 0, step: UInt64 = 1) throws -> LinearHistogram {
        LinearHistogram(unit: unit, start: start, step: step, slots: try slots(mapName))
    }

    /// Prints `log2Histogram` in BCC's layout (nothing when every slot is 0, as BCC) with
    /// Swift's `print`, so the calling program keeps its own policy for a closed stdout (a
    /// library never ends the process).
    /// - Throws: what `log2Histogram` throws.
    public func printLog2Histogram(_ mapName: String, unit: String = "value") throws {
        print(try log2Histogram(mapName, unit: unit).formatted(), terminator: "")
    }

    private func slots(_ mapName: String) throws -> [UInt64] {
        let map = try self.map(mapName)
        guard map.valueSize == 8 else {
            throw BPFError(.wrongMapType, operation: "histogram", subject: mapName, message: "values are \(map.valueSize) bytes, a histogram's are u64")
        }
        switch map.type {
        case .array:
            return try ArrayMap<UInt64>(map).values()
        case .perCPUArray:
            let view = try PerCPUArrayMap<UInt64>(map)
            return try (0..<UInt32(map.maxEntries)).map { try view.sum($0) }
        case .hash, .lruHash, .perCPUHash, .lruPerCPUHash:
            let entries: [(slot: UInt64, count: UInt64)]
            let perCPU = map.type == .perCPUHash || map.type == .lruPerCPUHash
            switch (map.keySize, perCPU) {
            case (4, false): entries = try HashMap<UInt32, UInt64>(map).entries().map { (UInt64($0.key), $0.value) }
            case (8, false): entries = try HashMap<UInt64, UInt64>(map).entries().map { ($0.key, $0.value) }
            case (4, true): entries = try PerCPUHashMap<UInt32, UInt64>(map).entries().map { (UInt64($0.key), $0.values.reduce(0, &+)) }
            case (8, true): entries = try PerCPUHashMap<UInt64, UInt64>(map).entries().map { ($0.key, $0.values.reduce(0, &+)) }
            default:
                throw BPFError(.wrongMapType, operation: "histogram", subject: mapName, message: "keys are \(map.keySize) bytes, a slot is u32 or u64")
            }
            var slots = [UInt64](repeating: 0, count: Int(min(entries.map(\.slot).max().map { $0 + 1 } ?? 0, 128)))
            for e in entries where e.slot < 128 { slots[Int(e.slot)] &+= e.count }
            return slots
        default:
            throw BPFError(.wrongMapType, operation: "histogram", subject: mapName, message: "map is \(map.type), not an array or hash of u64 slots")
        }
    }
}
