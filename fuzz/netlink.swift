// libFuzzer target: netbpf's rtnetlink reply parsing (Sources/NetBPFNetlink) on arbitrary bytes,
// as if the kernel had sent them: the datagram is split into messages (libmnl's mnl_nlmsg_ok /
// mnl_nlmsg_next), each message goes through every reply parser (links, addresses, routes,
// qdiscs, classes, tc filters with their actions, NLMSG_ERROR/DONE with extack) whatever its type,
// and through the reply state machine in ack and dump mode. Attribute tables are also read
// directly from the bytes and their nests walked.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetlink(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    walk(AttributeTable(payload: bytes), depth: 0)
    guard let messages = NetlinkMessage.split(bytes) else { return 0 }
    var ack = ReplyCollector(mode: .ack, sequence: messages.first?.sequence ?? 0, portID: 0)
    var dump = ReplyCollector(mode: .dump, sequence: messages.first?.sequence ?? 0, portID: 0)
    for m in messages {
        _ = InterfaceInfo(m)
        _ = AddressInfo(m)
        _ = RouteInfo(m)
        _ = QdiscInfo(m)
        _ = TCClassInfo(m)
        _ = TCFilter(m)
        _ = NetlinkAck(error: m)
        _ = NetlinkAck(done: m)
        _ = ack.consume(m)
        _ = dump.consume(m)
        walk(AttributeTable(message: m.bytes, familyHeaderSize: 16), depth: 0)
    }
    return 0
}

private func walk(_ table: AttributeTable, depth: Int) {
    guard depth < 4 else { return }
    for (type, payload) in table.all {
        _ = table.string(type)
        _ = table.u64(type)
        if payload.count >= 4 { walk(AttributeTable(payload: payload), depth: depth + 1) }
    }
}
