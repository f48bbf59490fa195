import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// TCXReservation: the tcx link `netbpf attach tc` makes while the program is still compiling,
/// with a pass-through placeholder that BPF_LINK_UPDATE swaps for the real program. The CLI
/// tests in AttachTests go through it on every tcx attach; these force the other outcomes.
@Suite(.serialized, .enabled(if: geteuid() == 0, "requires root: creates namespaces and tcx links"))
struct TCXReservationTests {
    func loadCounter() throws -> (BPFObject, BPFProgram) {
        let object = try BPFObjectSpec.open(path: try TestPrograms.object("count_icmp")).load()
        return (object, try object.program(named: "count_icmp"))
    }

    func options(_ direction: TCDirection = .ingress, _ position: TCXPosition = .last) -> TCAttachOptions {
        var o = TCAttachOptions()
        o.mechanism = .tcx
        o.direction = direction
        o.position = position
        return o
    }

    /// Placeholder ids on b's hooks: programs named netbpf_pending.
    func placeholders(_ lab: AttachLab, _ direction: TCDirection) throws -> [UInt32] {
        try lab.tcxPrograms(direction).filter { (try? BPFProgram.open(id: $0).info().name) == "netbpf_pending" }
    }

    @Test func theReservedLinkEndsUpRunningTheProgramAndCounts() throws {
        try AttachLab.with { lab in
            let reservation = try #require(lab.attacher.reserveTCX(interface: "b", namespace: lab.server, options: options()))
            defer { reservation.cancel() }
            let (object, program) = try loadCounter()
            let record = try lab.attacher.attachTC(program, of: object, to: "b", namespace: lab.server,
                                                   options: options(), reservation: reservation)
            // One program on the hook, the real one, and the pinned link runs it.
            #expect(try lab.tcxPrograms(.ingress) == [record.programID])
            let link = try BPFLink.open(pinned: record.pinDirectory + "/link")
            #expect(try link.info().programID == record.programID)
            #expect(try lab.ping(3))
            #expect(try AttachLab.readCounters(record.pinDirectory + "/maps/counts") == [3, 0])
            reservation.cancel() // taken: nothing to undo
            #expect(try lab.tcxPrograms(.ingress) == [record.programID])
            try lab.attacher.undo(record)
            try lab.expectNothingLeft()
        }
    }

    @Test func anUntakenReservationIsDetachedByCancelAndPassesTrafficMeanwhile() throws {
        try AttachLab.with { lab in
            let reservation = try #require(lab.attacher.reserveTCX(interface: "b", namespace: lab.server, options: options(.egress)))
            // The placeholder arrives on the hook; traffic flows as if it were not there.
            var waited = 0
            while try placeholders(lab, .egress).isEmpty && waited < 200 { usleep(10_000); waited += 1 }
            #expect(try placeholders(lab, .egress).count == 1)
            #expect(try lab.ping(2))
            reservation.cancel()
            #expect(try lab.tcxPrograms(.egress).isEmpty)
            try lab.expectNothingLeft()
        }
    }

    /// A reservation made for another hook is not used: the attach makes its own link on the
    /// hook it was asked for, and cancel() removes the stray placeholder.
    @Test func aReservationForAnotherHookIsIgnored() throws {
        try AttachLab.with { lab in
            let reservation = try #require(lab.attacher.reserveTCX(interface: "b", namespace: lab.server, options: options(.egress)))
            let (object, program) = try loadCounter()
            let record = try lab.attacher.attachTC(program, of: object, to: "b", namespace: lab.server,
                                                   options: options(.ingress), reservation: reservation)
            #expect(try lab.tcxPrograms(.ingress) == [record.programID])
            reservation.cancel()
            #expect(try lab.tcxPrograms(.egress).isEmpty)
            try lab.attacher.undo(record)
            try lab.expectNothingLeft()
        }
    }

    /// Ordering given at reservation time holds after the swap: --before 0 puts the program first.
    @Test func theReservedPlaceKeepsItsOrder() throws {
        try AttachLab.with { lab in
            let (firstObject, firstProgram) = try loadCounter()
            let existing = try lab.attacher.attachTC(firstProgram, of: firstObject, to: "b", namespace: lab.server, options: options())
            let object = try BPFObjectSpec.open(path: try TestPrograms.object("count_packets")).load()
            let program = try object.program(named: "count_tc")
            let reservation = try #require(lab.attacher.reserveTCX(interface: "b", namespace: lab.server, options: options(.ingress, .first)))
            defer { reservation.cancel() }
            let record = try lab.attacher.attachTC(program, of: object, to: "b", namespace: lab.server,
                                                   options: options(.ingress, .first), reservation: reservation)
            #expect(try lab.tcxPrograms(.ingress) == [record.programID, existing.programID])
            try lab.attacher.undo(record)
            try lab.attacher.undo(existing)
            try lab.expectNothingLeft()
        }
    }

    /// No such interface: the reservation fails quietly and the attach reports its own error.
    @Test func aFailedReservationLeavesTheErrorToTheAttach() throws {
        try AttachLab.with { lab in
            let reservation = try #require(lab.attacher.reserveTCX(interface: "nosuch0", namespace: lab.server, options: options()))
            defer { reservation.cancel() }
            let (object, program) = try loadCounter()
            #expect(throws: (any Error).self) {
                try lab.attacher.attachTC(program, of: object, to: "nosuch0", namespace: lab.server, options: options(), reservation: reservation)
            }
            try lab.expectNothingLeft()
        }
    }
}
