import Foundation
import NetBPF
import NetBPFCompiler
import NetBPFNetlink

/// netbpf's VLAN switch for simulations (the kernel has no 8021q): programs/vlan_access.bpf.c,
/// found like the controllers' programs (BundledPrograms). One object is loaded per host that
/// has VLAN access ports; its maps
/// are filled with the ports' ifindexes before the programs are attached:
/// `vlan_access_ingress` on each access port, `vlan_trunk_ingress` on each trunk.
package enum VLANSwitch {
    /// The tc priority of the VLAN programs: after the topology's own programs (1, 2, ...) on
    /// the same hook, which run first and must return TC_ACT_UNSPEC (-1) to let the frame on.
    package static let filterPriority: UInt16 = 0xC000
    package static let accessProgram = "vlan_access_ingress"
    package static let trunkProgram = "vlan_trunk_ingress"
    package static let portsMap = "vlan_ports"
    package static let trunksMap = "vlan_trunks"
    package static let statsMap = "vlan_stats"
    /// The program's source, relative to the repository root.
    package static let sourcePath = "programs/vlan_access.bpf.c"

    /// Compiles (through the compile cache) and opens the program.
    package static func open() throws -> BPFObjectSpec {
        try BPFCompiler().compile(file: try BundledPrograms.path("vlan_access.bpf.c")).open()
    }

    /// `struct vlan_port` value: trunk ifindex (u32), VLAN id (u16), pad (u16), host byte order.
    package static func portValue(trunkIndex: Int32, vlan: UInt16) -> [UInt8] {
        bytes(UInt32(bitPattern: trunkIndex)) + bytes(vlan) + [0, 0]
    }

    /// `struct vlan_trunk_key`: trunk ifindex (u32), VLAN id (u16), pad (u16).
    package static func trunkKey(trunkIndex: Int32, vlan: UInt16) -> [UInt8] {
        bytes(UInt32(bitPattern: trunkIndex)) + bytes(vlan) + [0, 0]
    }

    /// `struct vlan_counters` decoded: frames tagged, untagged, dropped for one VLAN id.
    package struct Counters: Sendable, Equatable {
        package var pushed: UInt64
        package var popped: UInt64
        package var dropped: UInt64

        package init(bytes b: [UInt8]) {
            func u64(_ o: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
            pushed = b.count >= 24 ? u64(0) : 0
            popped = b.count >= 24 ? u64(8) : 0
            dropped = b.count >= 24 ? u64(16) : 0
        }
    }

    /// Reads the counters of `vlan` from a (pinned) vlan_stats map.
    package static func counters(_ stats: BPFMap, vlan: UInt16) throws -> Counters {
        Counters(bytes: try stats.lookup(key: bytes(UInt32(vlan))) ?? [])
    }

    static func bytes<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

}
