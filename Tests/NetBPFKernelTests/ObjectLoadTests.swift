import Testing
import NetBPF
import NetBPFTestSupport

@Suite(.enabled(if: TestEnvironment.isRoot, "requires root: loads BPF programs into the kernel"))
struct ObjectLoadTests {
    @Test func verifierRejectionNamesProgramAndHint() throws {
        try TestEnvironment.expectNoFDLeak {
            let spec = try BPFObjectSpec.open(path: try TestPrograms.object("bad_unchecked_lookup"))
            let error = #expect(throws: BPFError.self) { try spec.load() }
            #expect(error?.code == .verifier)
            #expect(error?.description.contains("map_value_or_null") == true)
            #expect(error?.description.contains("(EACCES)") == true)
            #expect(error?.hint?.contains("NULL") == true)
            #expect(error?.verifierLog?.contains("processed") == true)
        }
    }
}
