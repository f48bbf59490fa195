import Testing
import NetBPFNetlink

/// Byte-exact encodings of the requests NetBPFNetlink sends, checked against what iproute2 6.1
/// sent for the same command on this kernel (NetlinkCaptures). Two differences are expected and
/// applied to the capture before comparing: the sequence number (ours is assigned at send time,
/// 0 here), and NLA_F_NESTED (0x8000) on nest headers, which libmnl always sets and tc sets only
/// on TCA_ACT_OPTIONS. No root needed.
@Suite struct NetlinkEncodingTests {
    static let ack: UInt16 = 0x04

    /// The capture with the sequence number zeroed and NLA_F_NESTED set on the nests at `nests`.
    static func iproute2Equivalent(_ capture: [UInt8], nestsAt nests: [Int]) -> [UInt8] {
        var b = capture
        for i in 8..<12 { b[i] = 0 }
        for offset in nests { b[offset + 3] |= 0x80 }
        return b
    }

    @Test func clsBPFDirectActionFilterMatchesTc() {
        let req = NetlinkSocket.bpfFilterRequest(ifindex: 3, parent: .ingressHook, programFD: 8,
                                                 name: "count_packets.bpf.o:[tc]", priority: 1, handle: 1, chain: nil,
                                                 etherProtocol: EtherProtocol.all, directAction: true, classID: nil,
                                                 actions: [], replace: false, echo: false)
        req.flags |= Self.ack
        #expect(req.bytes == Self.iproute2Equivalent(NetlinkCaptures.tcFilterAddDirectAction, nestsAt: [44]))
    }

    @Test func clsBPFFilterDefaultsAskForEchoAndExclusiveCreate() {
        let req = NetlinkSocket.bpfFilterRequest(ifindex: 3, parent: .egressHook, programFD: 8, name: "x", priority: 7,
                                                 handle: 9, chain: 2, etherProtocol: EtherProtocol.ipv4, directAction: true,
                                                 classID: nil, actions: [], replace: false)
        let b = req.bytes
        // nlmsghdr: RTM_NEWTFILTER (0x2c), NLM_F_REQUEST|ECHO|EXCL|CREATE = 0x0609 (ACK added at send).
        #expect(Array(b[4..<8]) == [0x2c, 0x00, 0x09, 0x06])
        // tcmsg: ifindex 3, handle 9, parent ffff:fff3, info = prio 7 << 16 | htons(0x0800).
        #expect(Array(b[16..<36]) == [0, 0, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0, 0xf3, 0xff, 0xff, 0xff, 0x08, 0x00, 0x07, 0x00])
        // TCA_KIND "bpf", then TCA_CHAIN (11) = 2.
        #expect(Array(b[36..<52]) == [8, 0, 1, 0, 0x62, 0x70, 0x66, 0, 8, 0, 11, 0, 2, 0, 0, 0])
        let replaced = NetlinkSocket.bpfFilterRequest(ifindex: 3, parent: .egressHook, programFD: 8, name: "x", priority: 7,
                                                      handle: 9, chain: nil, etherProtocol: 3, directAction: true,
                                                      classID: nil, actions: [], replace: true, echo: false)
        #expect(Array(replaced.bytes[6..<8]) == [0x01, 0x05])   // REQUEST|CREATE|REPLACE
    }

    @Test func mirredActionFilterMatchesTc() {
        let req = NetlinkSocket.bpfFilterRequest(ifindex: 3, parent: .egressHook, programFD: 8,
                                                 name: "count_packets.bpf.o:[tc]", priority: 2, handle: 2, chain: nil,
                                                 etherProtocol: EtherProtocol.all, directAction: false,
                                                 classID: TCHandle("1:1"),
                                                 actions: [.mirred(direction: 1, ifindex: 2, verdict: TCVerdict.stolen.rawValue)],
                                                 replace: false, echo: false)
        req.flags |= Self.ack
        #expect(req.bytes == Self.iproute2Equivalent(NetlinkCaptures.tcFilterAddMirred, nestsAt: [44, 56, 60]))
    }

    @Test func mirredActionBytes() {
        // The action list alone: TCA_ACT_TAB-style nest holding action 1 = mirred egress redirect
        // to ifindex 2, verdict TC_ACT_STOLEN; tc_mirred is {index, capab, action, refcnt, bindcnt, eaction, ifindex}.
        let req = NetlinkRequest(type: 0x30 /* RTM_NEWACTION */, flags: 0)
        NetlinkSocket.encodeActions([.mirred(direction: 1, ifindex: 2, verdict: 4)], as: 1, into: req)
        let expected: [UInt8] = [
            0x38, 0x00, 0x01, 0x80,                         // nest 1 (action table), NLA_F_NESTED
            0x34, 0x00, 0x01, 0x80,                         //  nest 1 (order 1)
            0x0b, 0x00, 0x01, 0x00, 0x6d, 0x69, 0x72, 0x72, 0x65, 0x64, 0x00, 0x00, // TCA_ACT_KIND "mirred"
            0x24, 0x00, 0x02, 0x80,                         //   TCA_ACT_OPTIONS
            0x20, 0x00, 0x02, 0x00,                         //    TCA_MIRRED_PARMS, 28 bytes
            0, 0, 0, 0,  0, 0, 0, 0,  4, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,   // tc_gen: action 4 (stolen)
            1, 0, 0, 0,                                     //    eaction TCA_EGRESS_REDIR
            2, 0, 0, 0,                                     //    ifindex 2
        ]
        #expect(Array(req.bytes.dropFirst(16)) == expected)
    }

    @Test func actBPFActionBytesFollowUAPI() {
        // <linux/tc_act/tc_bpf.h>: TCA_ACT_BPF_FD (5), TCA_ACT_BPF_NAME (6), TCA_ACT_BPF_PARMS (2)
        // = struct tc_act_bpf { tc_gen } with action TC_ACT_PIPE (3), in m_bpf.c's order.
        let req = NetlinkRequest(type: 0x30, flags: 0)
        NetlinkSocket.encodeActions([.bpf(fd: 8, name: "count_packets.bpf.o:[tc]", verdict: TCVerdict.pipe.rawValue)],
                                    as: 1, into: req)
        var expected: [UInt8] = [
            0x54, 0x00, 0x01, 0x80,                         // action table
            0x50, 0x00, 0x01, 0x80,                         //  order 1
            0x08, 0x00, 0x01, 0x00, 0x62, 0x70, 0x66, 0x00, //   TCA_ACT_KIND "bpf"
            0x44, 0x00, 0x02, 0x80,                         //   TCA_ACT_OPTIONS
            0x08, 0x00, 0x05, 0x00, 0x08, 0x00, 0x00, 0x00, //    TCA_ACT_BPF_FD = 8
            0x1d, 0x00, 0x06, 0x00,                         //    TCA_ACT_BPF_NAME
        ]
        expected += Array("count_packets.bpf.o:[tc]".utf8) + [0, 0, 0, 0]  // NUL + padding to 4
        expected += [0x18, 0x00, 0x02, 0x00] +              //    TCA_ACT_BPF_PARMS, 20 bytes
            [0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(Array(req.bytes.dropFirst(16)) == expected)
        // And it is exactly what tc put in its filter request (from offset 48 of the capture).
        let capture = Self.iproute2Equivalent(NetlinkCaptures.tcFilterAddActBPF, nestsAt: [44, 48, 52])
        #expect(Array(capture[48..<(48 + expected.count)]) == expected)
    }

    @Test func actBPFFilterMatchesTc() {
        let req = NetlinkSocket.bpfFilterRequest(ifindex: 3, parent: .egressHook, programFD: 11,
                                                 name: "count_packets.bpf.o:[tc]", priority: 3, handle: 3, chain: nil,
                                                 etherProtocol: EtherProtocol.all, directAction: true, classID: nil,
                                                 actions: [.bpf(fd: 8, name: "count_packets.bpf.o:[tc]", verdict: 3)],
                                                 replace: false, echo: false)
        req.flags |= Self.ack
        #expect(req.bytes == Self.iproute2Equivalent(NetlinkCaptures.tcFilterAddActBPF, nestsAt: [44, 48, 52]))
    }

    @Test func htbClassWithRateAndCeilMatchesTc() {
        let req = NetlinkSocket.htbClassRequest(ifindex: 3, parent: TCHandle("1:")!, classID: TCHandle("1:10")!,
                                                HTBClassOptions(rateBitsPerSecond: 1_000_000, ceilBitsPerSecond: 2_000_000),
                                                clock: .highResolution)
        req.flags |= Self.ack
        let expected = Self.iproute2Equivalent(NetlinkCaptures.tcClassAddHTB, nestsAt: [44])
        #expect(req.bytes.count == expected.count)
        #expect(req.bytes == expected)
        // The parts that carry the arithmetic, spelled out: tc_htb_opt at 52.
        let parms = Array(req.bytes[52..<96])
        #expect(Array(parms[0..<12]) == [3, 1, 0, 0, 0xff, 0xff, 0, 0, 0x48, 0xe8, 0x01, 0x00])  // cell_log 3, ethernet, align -1, 125000 B/s
        #expect(Array(parms[12..<24]) == [3, 1, 0, 0, 0xff, 0xff, 0, 0, 0x90, 0xd0, 0x03, 0x00]) // ceil 250000 B/s
        #expect(Array(parms[24..<32]) == [0x40, 0x0d, 0x03, 0x00, 0xa0, 0x86, 0x01, 0x00])      // buffer 200000, cbuffer 100000 ticks
    }

    @Test func htb64BitRateUsesRate64Attributes() {
        let req = NetlinkSocket.htbClassRequest(ifindex: 1, parent: TCHandle("1:")!, classID: TCHandle("1:20")!,
                                                HTBClassOptions(rateBitsPerSecond: 40_000_000_000), clock: .highResolution)
        let b = req.bytes
        // TCA_OPTIONS at 44, then TCA_HTB_RATE64 (6) and TCA_HTB_CEIL64 (7) = 5e9 bytes/s.
        let rate64: [UInt8] = [0x0c, 0x00, 0x06, 0x00] + withUnsafeBytes(of: UInt64(5_000_000_000).littleEndian, Array.init)
        #expect(Array(b[48..<60]) == rate64)
        #expect(Array(b[60..<64]) == [0x0c, 0x00, 0x07, 0x00])
        // The 32-bit field saturates.
        #expect(Array(b[84..<88]) == [0xff, 0xff, 0xff, 0xff])
    }

    @Test func tbfQdiscMatchesTc() {
        let req = NetlinkSocket.qdiscRequest(.tbf(TBFOptions(rateBitsPerSecond: 1_000_000, burstBytes: 32 * 1024,
                                                             latencyMicroseconds: 400_000)),
                                             ifindex: 2, parent: .root, handle: nil, replace: false, clock: .highResolution)
        req.flags |= Self.ack
        #expect(req.bytes == Self.iproute2Equivalent(NetlinkCaptures.tcQdiscAddTBF, nestsAt: [44]))
    }

    @Test func clsactAndHTBQdiscRequests() {
        let clsact = NetlinkSocket.qdiscRequest(.clsact, ifindex: 3, parent: .root, handle: nil, replace: false)
        clsact.flags |= Self.ack
        // As `tc qdisc add dev va clsact`: parent ffff:fff1, handle ffff:0000, TCA_KIND "clsact".
        #expect(clsact.bytes == [0x30, 0, 0, 0, 0x24, 0, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0xff, 0xff, 0xf1, 0xff, 0xff, 0xff, 0, 0, 0, 0,
                                 0x0b, 0, 1, 0, 0x63, 0x6c, 0x73, 0x61, 0x63, 0x74, 0, 0])
        let htb = NetlinkSocket.qdiscRequest(.htb(HTBOptions(defaultClass: 0x10)), ifindex: 3, parent: .root,
                                             handle: TCHandle("1:"), replace: false)
        htb.flags |= Self.ack
        // As `tc qdisc add dev va root handle 1: htb default 10`: TCA_HTB_INIT {version 3, r2q 10, defcls 0x10}.
        #expect(htb.bytes == [0x48, 0, 0, 0, 0x24, 0, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0,
                              0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
                              8, 0, 1, 0, 0x68, 0x74, 0x62, 0, 0x1c, 0, 2, 0x80,
                              0x18, 0, 2, 0, 3, 0, 0, 0, 10, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func xdpRequestsAsLibbpfSendsThem() {
        let attach = NetlinkSocket.xdpRequest(ifindex: 5, fd: 9, flags: 2 | 1, expectedFD: nil)
        // RTM_SETLINK (0x13), ifinfomsg index 5, IFLA_XDP (43) nest { IFLA_XDP_FD 9, IFLA_XDP_FLAGS SKB|NOEXIST }.
        #expect(attach.bytes == [0x34, 0, 0, 0, 0x13, 0, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0x14, 0, 43, 0x80, 8, 0, 1, 0, 9, 0, 0, 0, 8, 0, 3, 0, 3, 0, 0, 0])
        let guardedDetach = NetlinkSocket.xdpRequest(ifindex: 5, fd: -1, flags: 2, expectedFD: 7)
        // fd -1, flags SKB|REPLACE (0x12), IFLA_XDP_EXPECTED_FD (8) = 7.
        #expect(Array(guardedDetach.bytes.dropFirst(32)) == [0x1c, 0, 43, 0x80, 8, 0, 1, 0, 0xff, 0xff, 0xff, 0xff,
                                                             8, 0, 3, 0, 0x12, 0, 0, 0, 8, 0, 8, 0, 7, 0, 0, 0])
    }

    @Test func vethPeerCarriesItsOwnIfinfomsgAndNamespace() {
        let req = NetlinkSocket.vethRequest(name: "va", peer: "vb", peerNamespaceFD: 12, mtu: nil)
        let b = req.bytes
        // IFLA_IFNAME "va" at 32, then IFLA_LINKINFO (18) { IFLA_INFO_KIND "veth", IFLA_INFO_DATA { VETH_INFO_PEER
        // { ifinfomsg (16 zero bytes), IFLA_IFNAME "vb", IFLA_NET_NS_FD (28) = 12 } } }.
        #expect(Array(b[32..<40]) == [7, 0, 3, 0, 0x76, 0x61, 0, 0])
        #expect(Array(b[40..<44]) == [0x38, 0, 18, 0x80])        // 56 bytes to the end
        #expect(Array(b[44..<56]) == [9, 0, 1, 0, 0x76, 0x65, 0x74, 0x68, 0, 0, 0, 0])
        #expect(Array(b[56..<60]) == [0x28, 0, 2, 0x80])
        #expect(Array(b[60..<64]) == [0x24, 0, 1, 0x80])
        #expect(Array(b[64..<80]) == [UInt8](repeating: 0, count: 16))
        #expect(Array(b[80..<96]) == [7, 0, 3, 0, 0x76, 0x62, 0, 0, 8, 0, 28, 0, 12, 0, 0, 0])
        #expect(b.count == 96)
    }

    @Test func vxlanAttributes() {
        let o = VXLANOptions(vni: 42, remote: IPAddress("10.0.0.2"), local: IPAddress("10.0.0.1"), port: 4789, learning: false)
        let b = NetlinkSocket.vxlanRequest(name: "vx0", o, underlayIndex: 4, mtu: nil).bytes
        // IFLA_INFO_DATA payload: ID 42, GROUP 10.0.0.2, LOCAL 10.0.0.1, LINK 4, LEARNING 0, PORT htons(4789).
        let data: [UInt8] = [8, 0, 1, 0, 42, 0, 0, 0, 8, 0, 2, 0, 10, 0, 0, 2, 8, 0, 4, 0, 10, 0, 0, 1,
                             8, 0, 3, 0, 4, 0, 0, 0, 5, 0, 7, 0, 0, 0, 0, 0, 6, 0, 15, 0, 0x12, 0xb5, 0, 0]
        #expect(Array(b.suffix(data.count)) == data)
    }
}
