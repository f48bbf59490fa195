import Foundation
import Testing
import NetBPF
import NetBPFCompiler
import NetBPFTestSupport

/// Test-run, pinning, verifier errors, introspection and bad input against the real kernel.
@Suite(.enabled(if: TestEnvironment.isRoot, "requires root: loads BPF programs"))
struct ProgramTests {
    /// An Ethernet + IPv4 + ICMP echo request, 98 bytes like ping's.
    static let icmpPacket: [UInt8] = {
        var p = [UInt8](repeating: 0, count: 98)
        p[12] = 0x08; p[13] = 0x00                       // ETH_P_IP
        p[14] = 0x45; p[16] = 0; p[17] = 84; p[22] = 64; p[23] = 1 // IPv4, total 84, TTL 64, ICMP
        p[26...29] = [10, 0, 0, 1]; p[30...33] = [10, 0, 0, 2]
        p[34] = 8                                        // echo request
        return p
    }()

    @Test func testRunCountsAndReturns() throws {
        try TestEnvironment.expectNoFDLeak {
            let obj = try BPFObject.load(path: try TestPrograms.object("count_packets"))
            let counters = try ArrayMap<UInt64>(obj.map(named: "counters"))
            let r = try obj.program(named: "count_tc").testRun(data: Self.icmpPacket, repeat: 5)
            #expect(r.returnValue == 0) // TC_ACT_OK
            #expect(try counters.get(0) == 5)
            #expect(try counters.get(1) == 5 * 98)
            #expect(try obj.program(named: "drop_all").testRun(data: Self.icmpPacket).returnValue == 2) // TC_ACT_SHOT
            #expect(try obj.program(named: "xdp_drop").testRun(data: Self.icmpPacket).returnValue == 1) // XDP_DROP
            #expect(try obj.program(named: "xdp_count").testRun(data: Self.icmpPacket).returnValue == 2) // XDP_PASS
        }
    }

    @Test func pinOpenUnpin() throws {
        try TestEnvironment.expectNoFDLeak {
            try TestEnvironment.withBPFFSDirectory { dir in
                let obj = try BPFObject.load(path: try TestPrograms.object("count_packets"))
                let counters = try obj.map(named: "counters")
                try counters.pin(at: dir + "/counters")
                try obj.program(named: "count_tc").pin(at: dir + "/count_tc")
                try ArrayMap<UInt64>(counters).set(0, 77)

                let reopened = try ArrayMap<UInt64>(BPFMap.open(pinned: dir + "/counters"))
                #expect(try reopened.get(0) == 77)
                #expect(reopened.map.info.id == counters.info.id)
                let prog = try BPFProgram.open(pinned: dir + "/count_tc")
                #expect(try prog.info().name == "count_tc")
                #expect(throws: BPFError.self) { try BPFMap.open(pinned: dir + "/count_tc") }

                try Pinning.unpin(dir + "/counters")
                let e = #expect(throws: BPFError.self) { try BPFMap.open(pinned: dir + "/counters") }
                #expect(e?.code == .notFound)
                #expect(e?.hint != nil)
                try Pinning.unpin(dir + "/count_tc")
            }
        }
    }

    @Test func linkPinOutlivesTheHandle() throws {
        try TestEnvironment.withBPFFSDirectory { dir in
            let spec = try BPFObjectSpec.open(path: try TestPrograms.object("ringbuf_tp"))
            try spec.setGlobal("target_tgid", to: UInt32(getpid()))
            let obj = try spec.load()
            var link: BPFLink? = try obj.program(named: "emit_ringbuf").attach()
            let id = try link!.info().id
            try link!.pin(at: dir + "/link")
            link = nil
            #expect(try Inventory.links().contains { $0.id == id })
            let reopened = try BPFLink.open(pinned: dir + "/link")
            #expect(try reopened.info().id == id)
            // A tracepoint link has no BPF_LINK_DETACH: detach() removes the pin and closes the fd.
            try reopened.detach()
            #expect(!FileManager.default.fileExists(atPath: dir + "/link"))
            #expect(try !Inventory.links().contains { $0.id == id })
        }
    }

    @Test(arguments: [
        ("bad_unchecked_lookup", "map_value_or_null", "NULL"),
        ("bad_stack", "combined stack size", "512 bytes"),
        ("bad_kernel_read", "invalid mem access 'scalar'", "bpf_probe_read_kernel"),
        ("bad_helper", "cannot use helper", "program type"),
        ("no_license", "GPL-restricted", "LICENSE"),
        ("bad_kprobe_args", "R2 !read_ok", "PT_REGS_PARM1(ctx)"),
        ("bad_kprobe_ctx", "invalid bpf_context access off=168", "PT_REGS_SP(ctx)"),
        ("bad_socket_packet", "invalid bpf_context access off=76", "bpf_skb_load_bytes()"),
    ])
    func verifierRejectionsExplainThemselves(program: String, says: String, hint: String) throws {
        // Compiled first: a first vmlinux.h compile leaves the compiler's background work
        // (a precompiled header being built) holding descriptors for a while.
        let object = try TestPrograms.object(program)
        BPFCompiler.waitForBackgroundWork()
        try TestEnvironment.expectNoFDLeak {
            let spec = try BPFObjectSpec.open(path: object)
            let error = #expect(throws: BPFError.self) { try spec.load() }
            #expect(error?.code == .verifier)
            #expect(error?.description.contains(says) == true, "\(error?.description ?? "")")
            #expect(error?.hint?.contains(hint) == true, "\(error?.hint ?? "no hint")")
            #expect(error?.description.contains("\n") == false)
            #expect((error?.verifierLog?.count ?? 0) > 20)
        }
    }

    @Test func verifierLogOnRequestForAGoodProgram() throws {
        let spec = try BPFObjectSpec.open(path: try TestPrograms.object("count_packets"))
        try spec.setLogLevel(1, forProgram: "count_tc")
        let obj = try spec.load()
        let log = try obj.program(named: "count_tc").verifierLog
        #expect(log?.contains("processed") == true)
    }

    @Test func inventoryShowsOurProgramAndMaps() throws {
        try TestEnvironment.expectNoFDLeak {
            let obj = try BPFObject.load(path: try TestPrograms.object("count_packets"))
            let prog = try obj.program(named: "count_tc")
            let info = try prog.info()
            let listed = try Inventory.programs().first { $0.info.id == info.id }
            #expect(listed?.info.name == "count_tc")
            #expect(listed?.info.tag == info.tag)
            #expect(info.tag.count == 16)
            #expect(listed?.info.mapIDs == [try obj.map(named: "counters").info.id])
            #expect(try Inventory.maps().contains { $0.name == "counters" && $0.id == info.mapIDs.first })
        }
    }

    @Test func objectInspectionWithoutLoading() throws {
        let spec = try BPFObjectSpec.open(path: try TestPrograms.object("count_packets"))
        #expect(spec.programs.map(\.name) == ["count_tc", "drop_all", "xdp_count", "xdp_drop", "sock_icmp_only"])
        #expect(spec.programs.first?.type == .schedCls)
        #expect(spec.programs.first { $0.name == "xdp_drop" }?.type == .xdp)
        #expect(spec.maps.first { $0.name == "counters" }?.valueSize == 8)
    }

    @Test func badObjectsFailCleanly() throws {
        _ = try TestPrograms.object("maps_only")
        try TestEnvironment.expectNoFDLeak {
            #expect(throws: BPFError.self) { try BPFObjectSpec.open(path: "/nonexistent.o") }
            let host = try BPFObjectSpec.openFailure(path: "/proc/self/exe")
            #expect(host.code == .invalidObject)
            let noProgs = #expect(throws: BPFError.self) { try BPFObjectSpec.open(path: try TestPrograms.object("maps_only")) }
            #expect(noProgs?.description.contains("no programs") == true)
        }
    }

    @Test func featuresAgreeWithTheSystem() {
        let kprobePMU = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/kprobe/type")
        #expect(Features.shared.kprobes.available == (kprobePMU || FileManager.default.fileExists(atPath: "/sys/kernel/tracing/kprobe_events")))
        #expect(Features.shared.ringBuffer.available)
        #expect(Features.shared.batchOperations.available)
        #expect(Features.shared.uprobes.available == FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/uprobe/type"))
    }
}

extension BPFObjectSpec {
    static func openFailure(path: String) throws -> BPFError {
        do { _ = try open(path: path); throw BPFError(.state, operation: "test", message: "opened \(path)") } catch let e as BPFError where e.operation != "test" { return e }
    }
}
