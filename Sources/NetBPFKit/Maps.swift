extension BPF {
    /// A hash map viewed with Swift key and value types. The sizes are checked (HashMap); a
    /// `BPFRecord` value is also checked field by field against the map's BTF value type, so a
    /// Swift struct that drifted from the C is an error naming the field, here.
    /// - Throws: `BPFError(.notFound)`, `.wrongMapType`, `.sizeMismatch`.
    public func hashMap<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ name: String, key: Key.Type = Key.self,
                                                                       value: Value.Type = Value.self) throws -> HashMap<Key, Value> {
        try checkValue(Value.self, ofMap: name)
        return try HashMap<Key, Value>(map(name))
    }

    /// An array map viewed with a Swift value type, checked as `hashMap`'s values are.
    public func arrayMap<Value: BitwiseCopyable>(_ name: String, value: Value.Type = Value.self) throws -> ArrayMap<Value> {
        try checkValue(Value.self, ofMap: name)
        return try ArrayMap<Value>(map(name))
    }

    private func checkValue<Value>(_ type: Value.Type, ofMap name: String) throws {
        guard let record = Value.self as? any BPFRecord.Type else { return }
        guard let layout = try object.valueLayout(ofMap: name) else {
            throw BPFError(.sizeMismatch, operation: "check layout", subject: name,
                           message: "map '\(name)' has no struct value type in BTF to check \(Value.self) against",
                           hint: "declare the map with __type(value, struct ...)")
        }
        try record.check(against: layout)
    }
}
