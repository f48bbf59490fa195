// libFuzzer target: the topology file reader (Sources/NetBPFSim: Yams' parser, YAMLReader,
// TopologyParser, TopologyValidator) on arbitrary text. Topology.parse either returns a
// validated topology or throws the list of problems; it must never crash or hang. No kernel.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTopology(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let topology = try Topology.parse(text, file: "/fuzz/topology.yaml")
        _ = topology.hosts.map { topology.namespace(of: $0.name) }
    } catch {
        _ = "\(error)" // the error text is built from the input too
    }
    return 0
}
