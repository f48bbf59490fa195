import Testing
import Glibc
import NetBPFNetlink

/// Parsing of captured kernel replies (NetlinkCaptures), the reply state machine, error text
/// and the small value types. No root needed.
@Suite struct NetlinkParsingTests {

    @Test func filterDumpReplyParsesLikeTcShow() throws {
        let messages = try #require(NetlinkMessage.split(NetlinkCaptures.filterDumpReply))
        #expect(messages.count == 2)
        #expect(messages.allSatisfy { $0.type == 0x2c && $0.isMulti })
        // The first is the (prio, protocol) head tc prints as a bare line: not a filter.
        #expect(TCFilter(messages[0]) == nil)
        let f = try #require(TCFilter(messages[1]))
        #expect(f.interfaceIndex == 3)
        #expect(f.parent == .ingressHook && f.hook == .ingress)
        #expect(f.kind == "bpf")
        #expect(f.priority == 1 && f.handle == 1 && f.chain == 0)
        #expect(f.etherProtocol == EtherProtocol.all)
        #expect(f.bpf?.programID == 698)
        #expect(f.bpf?.name == "count_packets.bpf.o:[tc]")
        #expect(f.bpf?.tag == "b000065f7b607f70")
        #expect(f.bpf?.directAction == true)
        #expect(f.actions.isEmpty)
    }

    @Test func dumpCollectorEndsAtDoneAndSkipsStaleMessages() throws {
        let parts = try #require(NetlinkMessage.split(NetlinkCaptures.filterDumpReply))
        let done = try #require(NetlinkMessage.split(NetlinkCaptures.filterDumpDone)?.first)
        var c = ReplyCollector(mode: .dump, sequence: 0x6b02_29f8, portID: 0x2e60)
        // A leftover from an older request (other sequence number) is skipped.
        var stale = parts[1]
        stale.sequence = 0x6b02_29f7
        #expect(c.consume(stale) == .needMore)
        #expect(c.consume(parts[0]) == .needMore)
        #expect(c.consume(parts[1]) == .needMore)
        #expect(c.consume(done) == .done)
        #expect(c.messages.count == 2)
        #expect(c.skippedStale == 1)
        #expect(!c.interrupted)
    }

    @Test func dumpInterruptedFlagIsNoticed() throws {
        var part = try #require(NetlinkMessage.split(NetlinkCaptures.filterDumpReply)?[1])
        part.flags |= 0x10   // NLM_F_DUMP_INTR
        let done = try #require(NetlinkMessage.split(NetlinkCaptures.filterDumpDone)?.first)
        var c = ReplyCollector(mode: .dump, sequence: part.sequence, portID: part.portID)
        _ = c.consume(part)
        #expect(c.consume(done) == .done)
        #expect(c.interrupted)
    }

    @Test func uncappedExtackErrorReplyFromActBPF() throws {
        let m = try #require(NetlinkMessage.split(NetlinkCaptures.actBPFErrorReply)?.first)
        let ack = try #require(NetlinkAck(error: m))
        #expect(ack.errno == ENOENT)
        #expect(ack.message == "Failed to load TC action module")
        var c = ReplyCollector(mode: .ack, sequence: m.sequence, portID: m.portID)
        #expect(c.consume(m) == .failed(ack))
        // What the caller makes of it.
        var e = NetlinkError.system("RTM_NEWTFILTER", subject: "bpf filter pref 3 handle 0x3 egress dev va",
                                    errno: ack.errno, kernelMessage: ack.message)
        NetlinkSocket.mapMissingAction(&e, kinds: ["bpf"])
        #expect(e.code == .unsupported)
        #expect(e.description == "RTM_NEWTFILTER 'bpf filter pref 3 handle 0x3 egress dev va': kernel lacks act_bpf (CONFIG_NET_ACT_BPF) (ENOENT): kernel says \"Failed to load TC action module\"; hint: use a direct-action cls_bpf filter (directAction: true) and return the verdict from the program")
        // Other errors are left alone.
        var other = NetlinkError.system("RTM_NEWTFILTER", errno: EINVAL, kernelMessage: "Parent Qdisc doesn't exists")
        NetlinkSocket.mapMissingAction(&other, kinds: ["bpf"])
        #expect(other.code == .invalidArgument)
    }

    @Test func cappedExtackErrorReplyFromOurSocket() throws {
        let m = try #require(NetlinkMessage.split(NetlinkCaptures.cappedExtackReply)?.first)
        #expect(m.flags & 0x100 != 0)   // NLM_F_CAPPED
        let ack = try #require(NetlinkAck(error: m))
        #expect(ack.errno == EINVAL)
        #expect(ack.message == "Parent Qdisc doesn't exists")
        var e = NetlinkError.system("RTM_NEWTFILTER", subject: "bpf filter pref 1 handle 0x1 ingress dev a",
                                    errno: ack.errno, kernelMessage: ack.message)
        NetlinkSocket.mapFilterError(&e, interface: "a", parent: .ingressHook)
        #expect(e.code == .notFound)
        #expect(e.description == "RTM_NEWTFILTER 'bpf filter pref 1 handle 0x1 ingress dev a': no qdisc at ffff:fff2 on 'a' (EINVAL): kernel says \"Parent Qdisc doesn't exists\"; hint: add a clsact qdisc first (ensureClsact, or tc qdisc add dev a clsact)")
    }

    @Test func ackWithoutErrorEndsRequest() {
        // NLMSG_ERROR with error 0, capped: a plain ACK.
        let bytes: [UInt8] = [36, 0, 0, 0, 2, 0, 0, 1, 5, 0, 0, 0, 9, 0, 0, 0,
                              0, 0, 0, 0, 20, 0, 0, 0, 0x10, 0, 5, 6, 5, 0, 0, 0, 0, 0, 0, 0]
        let m = NetlinkMessage.split(bytes)!.first!
        var c = ReplyCollector(mode: .ack, sequence: 5, portID: 9)
        #expect(c.consume(m) == .done)
        #expect(c.messages.isEmpty)
    }

    @Test func truncatedDatagramIsRejected() {
        var bytes = NetlinkCaptures.filterDumpReply
        bytes.removeLast(8)
        #expect(NetlinkMessage.split(bytes) == nil)
    }

    @Test func nestedAttributesRoundTripThroughLibmnl() throws {
        let req = NetlinkRequest(type: 0x2c, flags: 0)
        req.putHeader((UInt32(1), UInt32(2), UInt32(3), UInt32(4), UInt32(5)))   // a 20-byte family header
        req.put(1, string: "bpf")
        req.nest(2) {
            req.put(6, u32: 0xdead_beef)
            req.put(7, string: "name")
            req.nest(1) { req.put(3, u64: 42) }
        }
        let m = try #require(NetlinkMessage.split(req.bytes)?.first)
        let a = AttributeTable(message: m.bytes, familyHeaderSize: 20)
        #expect(a.string(1) == "bpf")
        let inner = try #require(a.nested(2))
        #expect(inner.u32(6) == 0xdead_beef)
        #expect(inner.string(7) == "name")
        #expect(inner.nested(1)?.u64(3) == 42)
        #expect(inner.all.map(\.type) == [6, 7, 1])
    }

    @Test func oversizedRequestIsRefusedNotOverrun() {
        let req = NetlinkRequest(type: 0x2c, flags: 0)
        req.put(1, bytes: [UInt8](repeating: 0xaa, count: 60_000))
        #expect(!req.overflowed)
        req.put(2, bytes: [UInt8](repeating: 0xbb, count: 10_000))
        #expect(req.overflowed)
        #expect(req.length <= NetlinkRequest.capacity)
    }

    @Test func errorDescriptionsAreOneLine() {
        let e = NetlinkError.system("RTM_NEWQDISC", subject: "clsact dev veth0", errno: EEXIST,
                                    kernelMessage: "Exclusivity flag on, cannot modify")
        #expect(e.code == .exists)
        #expect(e.description == "RTM_NEWQDISC 'clsact dev veth0': file exists (EEXIST): kernel says \"Exclusivity flag on, cannot modify\"")
        #expect(!e.description.contains("\n"))
        #expect(NetlinkErrno.describe(524) == "operation not supported by this kernel (ENOTSUPP)")
    }

    @Test func handlesParseAndPrintAsTc() {
        #expect(TCHandle("1:10")?.rawValue == 0x0001_0010)
        #expect(TCHandle("1:")?.rawValue == 0x0001_0000)
        #expect(TCHandle("ffff:fff2") == .ingressHook)
        #expect(TCHandle("root") == .root)
        #expect(TCHandle("clsact") == .clsact)
        #expect(TCHandle("x") == nil)
        #expect(TCHandle(major: 1, minor: 0x10).description == "1:10")
        #expect(TCHandle.clsactQdisc.description == "ffff:")
        #expect(TCHook.egress.parent.rawValue == 0xFFFF_FFF3)
    }

    @Test func addressesAndPrefixes() {
        let p = IPPrefix("10.1.2.3/20")!
        #expect(p.network.description == "10.1.0.0")
        #expect(p.broadcast?.description == "10.1.15.255")
        #expect(IPPrefix("10.0.0.1")?.prefixLength == 32)
        #expect(IPPrefix("fd00::1/64")?.network.description == "fd00::")
        #expect(IPPrefix("fd00::1/129") == nil)
        #expect(IPAddress("239.1.1.1")!.isMulticast)
        #expect(!IPAddress("10.1.1.1")!.isMulticast)
        #expect(MACAddress("02:00:00:0a:bc:01")?.description == "02:00:00:0a:bc:01")
        #expect(MACAddress("02:00:00:0a:bc") == nil)
        let i: Interface = "veth0"
        #expect(i == .name("veth0"))
        let j: Interface = 7
        #expect(j.description == "ifindex 7")
    }

    @Test func rateArithmeticMatchesIproute2() {
        let clock = PacketSchedulerClock.highResolution
        #expect(clock.hz == 1_000_000_000)
        #expect(clock.ticksPerMicrosecond == 15.625)
        #expect(clock.transmitTime(rate: 125_000, size: 1600) == 200_000)
        #expect(clock.transmitTime(rate: 125_000, size: 32768) == 4_096_000)
        let t = clock.rateTable(rate: 125_000, mtu: 1600)
        #expect(t.cellLog == 3)
        #expect(t.table.count == 256)
        #expect(t.table[0] == 1000 && t.table[1] == 2000)
        #expect(PacketSchedulerClock.system == .highResolution)   // what /proc/net/psched says here
    }
}
