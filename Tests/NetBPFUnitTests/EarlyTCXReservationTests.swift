import Testing
import NetBPF
@testable import NetBPFCLI

/// The scan of raw arguments that lets `netbpf attach tc` start its tcx link before
/// ArgumentParser runs: it must name the hook the parsed command will use, or nothing.
struct EarlyTCXReservationTests {
    typealias Plan = EarlyTCXReservation.Plan

    static let planned: [([String], Plan)] = [
        (["attach", "tc", "eth0", "prog.c"], Plan(interface: "eth0", namespace: nil, direction: .ingress)),
        (["attach", "tc", "eth0", "prog.c", "--egress"], Plan(interface: "eth0", namespace: nil, direction: .egress)),
        (["attach", "tc", "b", "prog.c", "--netns", "srv", "--json"], Plan(interface: "b", namespace: "srv", direction: .ingress)),
        (["attach", "tc", "b", "prog.c", "--netns=srv", "--tcx", "--verbose"], Plan(interface: "b", namespace: "srv", direction: .ingress)),
        (["attach", "tc", "b", "prog.c", "-D", "N=1", "-DM=2", "-I", "inc", "-Iinc2", "--no-cache"], Plan(interface: "b", namespace: nil, direction: .ingress)),
        (["attach", "tc", "b", "prog.c", "--section", "tc", "--program-name", "f"], Plan(interface: "b", namespace: nil, direction: .ingress)),
        (["attach", "tc", "b", "prog.c", "--section=tc"], Plan(interface: "b", namespace: nil, direction: .ingress)),
    ]

    @Test(arguments: planned)
    func plainFormsArePlanned(arguments: [String], plan: Plan) {
        #expect(EarlyTCXReservation.plan(for: ["netbpf"] + arguments) == plan)
    }

    /// Anything that could put the program elsewhere, or that is not an attach at all.
    static let notPlanned: [[String]] = [
        ["attach", "tc", "eth0", "prog.c", "--clsact"],
        ["attach", "tc", "eth0", "prog.c", "--priority", "2"],
        ["attach", "tc", "eth0", "prog.c", "--handle", "2"],
        ["attach", "tc", "eth0", "prog.c", "--classid", "1:10"],
        ["attach", "tc", "eth0", "prog.c", "--before", "0"],
        ["attach", "tc", "eth0", "prog.c", "--after", "12"],
        ["attach", "tc", "eth0", "prog.c", "--ingress", "--egress"],
        ["attach", "tc", "--egress", "eth0", "prog.o", "--ingress"],
        ["attach", "tc", "eth0", "prog.c", "--help"],
        ["attach", "tc", "eth0", "prog.c", "--unknown-option"],
        ["attach", "tc", "eth0", "prog.c", "--netns"],
        ["attach", "tc", "eth0", "prog.c", "--netns", ".."],
        ["attach", "tc", "eth0", "prog.c", "--netns", "a/b"],
        ["attach", "tc", "eth0", "prog.c", "--section"],
        ["attach", "tc", "eth0", "prog.c", "extra"],
        ["attach", "tc", "eth0"],
        ["attach", "tc", "--", "eth0", "prog.c"],
        ["attach", "tc", "this-name-is-far-too-long-for-linux", "prog.c"],
        ["attach", "xdp", "eth0", "prog.c"],
        ["detach", "tc", "eth0", "--all"],
        ["compile", "prog.c"],
        [],
    ]

    @Test(arguments: notPlanned)
    func otherFormsAreLeftToTheParser(arguments: [String]) {
        #expect(EarlyTCXReservation.plan(for: ["netbpf"] + arguments) == nil)
    }
}
