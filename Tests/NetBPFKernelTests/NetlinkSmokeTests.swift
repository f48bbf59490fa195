import Testing
import Glibc
import NetBPFNetlink
import NetBPFTestSupport

@Suite(.serialized, .enabled(if: geteuid() == 0, "requires root: creates namespaces and links"))
struct NetlinkSmokeKernelTests {
    @Test func netlinkSmokeLinksInTemporaryNamespace() throws {
        try NetworkNamespace.withTemporary(prefix: "nbt") { name in
            let nl = try NetlinkSocket(namespace: name)
            let links = try nl.links()
            #expect(links.map(\.name) == ["lo"])
            try nl.createVeth("va", peer: "vb")
            try nl.setLinkUp("va")
            let va = try nl.link("va")
            #expect(va.kind == "veth")
            #expect(va.isUp)
            let err = #expect(throws: NetlinkError.self) { try nl.link("veth9") }
            print(err?.description ?? "")
        }
    }
}
