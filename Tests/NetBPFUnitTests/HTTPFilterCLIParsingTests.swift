import Testing
@testable import NetBPFCLI

/// `netbpf http-filter` arguments land in the command that owns them: `watch` is the default,
/// and `block`'s -i/--netns/--host are its own (a parent with the same options would take them).
struct HTTPFilterCLIParsingTests {
    @Test func watchIsTheDefault() throws {
        let command = try NetBPFCommand.parseAsRoot(["http-filter", "-i", "srv", "--netns", "web", "--host", "a.example", "--method", "GET",
                                                     "--path-prefix", "/api", "--block-path", "/admin", "--block-host", "b.example",
                                                     "--json", "--seconds", "5", "--count", "3", "--vlan", "7"])
        let watch = try #require(command as? HTTPFilterCommand.Watch)
        #expect(watch.interface == "srv" && watch.netns == "web" && watch.host == ["a.example"] && watch.method == ["GET"])
        #expect(watch.pathPrefix == ["/api"] && watch.blockPath == ["/admin"] && watch.blockHost == ["b.example"])
        #expect(watch.output.json && watch.seconds == 5 && watch.count == 3 && watch.vlan == 7)
    }

    @Test func blockSubcommandsOwnTheirOptions() throws {
        let add = try #require(try NetBPFCommand.parseAsRoot(["http-filter", "block", "add", "--host", "shop.example", "--path", "/a",
                                                              "-i", "srv", "--netns", "web"]) as? HTTPFilterCommand.Add)
        #expect(add.entries.host == ["shop.example"] && add.entries.path == ["/a"])
        #expect(add.target.interface == "srv" && add.target.netns == "web")
        let del = try #require(try NetBPFCommand.parseAsRoot(["http-filter", "block", "del", "--path", "/a"]) as? HTTPFilterCommand.Del)
        #expect(del.entries.path == ["/a"] && del.target.interface == nil)
        let list = try #require(try NetBPFCommand.parseAsRoot(["http-filter", "block", "list", "--json", "-i", "eth0"]) as? HTTPFilterCommand.List)
        #expect(list.output.json && list.target.interface == "eth0")
    }

    @Test func badArgumentsAreRefused() {
        #expect(throws: (any Error).self) { try NetBPFCommand.parseAsRoot(["http-filter", "--vlan", "x"]) }
        #expect(throws: (any Error).self) { try NetBPFCommand.parseAsRoot(["http-filter", "block", "add", "--nope"]) }
    }
}
