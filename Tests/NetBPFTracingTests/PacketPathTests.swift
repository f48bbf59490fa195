import Foundation
import NetBPF
import Testing
@testable import NetBPFTracing

/// The assembler of `netbpf trace packet` on hand-made probe events: which program decided at a
/// hook follows from the last probe that saw the packet.
@Suite struct PacketPathAssemblerTests {
    typealias PP = PacketPath
    static let a = PP.Hook(netns: 1, ifindex: 2, direction: .egress)
    static let b = PP.Hook(netns: 2, ifindex: 2, direction: .ingress)
    static let c = PP.Hook(netns: 2, ifindex: 5, direction: .ingress)
    static let hooks: [PP.Hook: PP.HookInfo] = [
        a: PP.HookInfo(place: "h1/eth0", programs: [], probesAfter: [0]),
        b: PP.HookInfo(place: "h2/eth0", programs: [PP.Program(name: "mon", id: 10)], probesAfter: [0, 1]),
        c: PP.HookInfo(place: "h2/vx", programs: [PP.Program(name: "limit", id: 11), PP.Program(name: "block", id: 12)], probesAfter: [0, 1, 2]),
    ]
    static let ping = PP.Packet(family: 4, proto: 1, icmpType: 8, sport: 7, seq: 1, source: [10, 0, 0, 1], destination: [10, 0, 0, 2])

    static func seen(_ t: UInt64, _ h: PP.Hook, _ slot: Int, id: UInt64 = 42) -> PP.Event {
        PP.Event(timestampNs: t, id: id, netns: h.netns, ifindex: h.ifindex, direction: h.direction, slot: slot, packet: slot == 0 ? ping : PP.Packet())
    }

    static func assemble(_ events: [PP.Event], reasons: [UInt32: String] = [:]) -> [PP.Path] {
        let asm = PP.Assembler(hooks: hooks, settleNs: 100, symbolize: { _ in "__udp4_lib_rcv+0x4bc" })
        for e in events { asm.add(e) }
        if let first = events.map(\.timestampNs).max() { #expect(asm.finished(nowNs: first + 50).isEmpty, "nothing is finished before it settled") }
        return asm.finished(nowNs: 10_000)
    }

    @Test func deliveredThroughEveryProgram() {
        // Out of order (two CPUs' records), which the assembler sorts by time.
        let paths = Self.assemble([Self.seen(1000, Self.b, 0), Self.seen(900, Self.a, 0), Self.seen(1001, Self.b, 1),
                                   Self.seen(1010, Self.c, 0), Self.seen(1011, Self.c, 1), Self.seen(1012, Self.c, 2)])
        #expect(paths.count == 1)
        #expect(paths.first?.packet == "icmp 10.0.0.1 > 10.0.0.2 echo request id 7 seq 1")
        #expect(paths.first?.route == "h1/eth0 egress -> h2/eth0 ingress (mon: ok) -> h2/vx ingress (limit: ok, block: ok) -> delivered")
    }

    @Test func shotByTheSecondProgram() {
        let tcIngress = DropReasons.value("TC_INGRESS") ?? 3
        var drop = Self.seen(1013, Self.c, 0)
        drop.isDrop = true
        drop.reason = tcIngress
        let paths = Self.assemble([Self.seen(900, Self.a, 0), Self.seen(1000, Self.b, 0), Self.seen(1001, Self.b, 1),
                                   Self.seen(1010, Self.c, 0), Self.seen(1011, Self.c, 1), drop])
        let name = DropReasons.name(tcIngress)
        #expect(paths.first?.route == "h1/eth0 egress -> h2/eth0 ingress (mon: ok) -> h2/vx ingress (limit: ok, block: SHOT) -> dropped: \(name)")
        #expect(paths.first?.end.place == "h2/vx")
    }

    @Test func chainEndedWithoutADropAndANonTCDrop() {
        // limit ended the chain (block never ran) and the packet went on: OK or a redirect.
        let paths = Self.assemble([Self.seen(1010, Self.c, 0)])
        #expect(paths.first?.route == "h2/vx ingress (limit: OK/REDIRECT) -> delivered")
        #expect(paths.first?.hops.first?.programs.last == PP.Verdict(program: "block", id: 12, verdict: "not run"))
        // Dropped later by the stack: the reason and the function.
        if let noSocket = DropReasons.value("NO_SOCKET") {
            var drop = PP.Event(timestampNs: 1020, id: 42, netns: 2, ifindex: 5, direction: .ingress, slot: 0, drop: noSocket, location: 0xffff)
            drop.isDrop = true
            let dropped = Self.assemble([Self.seen(1000, Self.b, 0), Self.seen(1001, Self.b, 1), drop])
            #expect(dropped.first?.route == "h2/eth0 ingress (mon: ok) -> dropped: NO_SOCKET (__udp4_lib_rcv)")
            // Freed after a raw socket took a clone (iputils ping as root).
            drop.cloned = true
            let cloned = Self.assemble([Self.seen(1000, Self.b, 0), Self.seen(1001, Self.b, 1), drop])
            #expect(cloned.first?.route == "h2/eth0 ingress (mon: ok) -> dropped: NO_SOCKET (__udp4_lib_rcv; a clone lives on)")
            #expect(cloned.first?.end.cloned == true)
        }
    }

    @Test func sameHeadersAgainMakeASecondPacket() {
        let paths = Self.assemble([Self.seen(900, Self.a, 0), Self.seen(1000, Self.b, 0), Self.seen(1001, Self.b, 1),
                                   Self.seen(1200, Self.a, 0), Self.seen(1300, Self.b, 0)])
        #expect(paths.map(\.route) == ["h1/eth0 egress -> h2/eth0 ingress (mon: ok) -> delivered",
                                       "h1/eth0 egress -> h2/eth0 ingress (mon: OK/REDIRECT) -> delivered"])
    }

    @Test func unseenAfterAnEgress() {
        #expect(Self.assemble([Self.seen(900, Self.a, 0)]).first?.route == "h1/eth0 egress -> not seen after")
    }

    @Test func packetText() {
        let tcp = PP.Packet(family: 4, proto: 6, tcpFlags: 0x18, sport: 40000, dport: 80, seq: 5, ack: 9, payload: 79, source: [1, 2, 3, 4], destination: [5, 6, 7, 8])
        #expect(tcp.text == "tcp 1.2.3.4:40000 > 5.6.7.8:80 [P.] seq 5 ack 9 len 79")
        let udp6 = PP.Packet(family: 6, proto: 17, sport: 1, dport: 53, payload: 20, source: [UInt8](repeating: 0, count: 15) + [1], destination: [UInt8](repeating: 0, count: 15) + [1])
        #expect(udp6.text == "udp [::1]:1 > [::1]:53 len 20")
    }
}
