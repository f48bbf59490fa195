internal import CMnl

/// A tc handle or parent: 16-bit major and minor, written "1:10" in hex as tc does.
/// Special values: `root` (TC_H_ROOT), `clsact`/`ingress` (TC_H_CLSACT = TC_H_INGRESS,
/// ffff:fff1), and the clsact hooks `ingressHook` (ffff:fff2) and `egressHook` (ffff:fff3).
/// `unspecified` (0) is never used as a qdisc parent here.
public struct TCHandle: RawRepresentable, Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The 32-bit value of tcm_handle / tcm_parent.
    public let rawValue: UInt32
    /// A handle by value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// TC_H_MAKE(major << 16, minor).
    public init(major: UInt16, minor: UInt16) { rawValue = UInt32(major) << 16 | UInt32(minor) }

    /// The upper 16 bits: the qdisc's number ("1" of "1:10").
    public var major: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }
    /// The lower 16 bits: the class's number within its qdisc ("10" of "1:10").
    public var minor: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    /// TC_H_UNSPEC (0), printed "none"; refused as a parent here, where it is ambiguous.
    public static let unspecified = TCHandle(rawValue: 0)
    /// TC_H_ROOT: the parent of a device's root qdisc.
    public static let root = TCHandle(rawValue: 0xFFFF_FFFF)
    /// TC_H_INGRESS: the parent of an ingress qdisc (the same value as `clsact`).
    public static let ingress = TCHandle(rawValue: 0xFFFF_FFF1)
    /// TC_H_CLSACT: the parent of a clsact qdisc.
    public static let clsact = TCHandle(rawValue: 0xFFFF_FFF1)
    /// The handle of an ingress/clsact qdisc itself: TC_H_MAKE(TC_H_CLSACT, 0) = ffff:.
    public static let clsactQdisc = TCHandle(rawValue: 0xFFFF_0000)
    /// TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS): filters here see received packets.
    public static let ingressHook = TCHandle(rawValue: 0xFFFF_FFF2)
    /// TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS): filters here see transmitted packets.
    public static let egressHook = TCHandle(rawValue: 0xFFFF_FFF3)

    /// Parses "1:", "1:10", ":10", "root", "ingress", "clsact", "none" (hex numbers, as tc).
    public init?(_ text: String) {
        switch text {
        case "root": self = .root; return
        case "ingress", "clsact": self = .clsact; return
        case "none": self = .unspecified; return
        default: break
        }
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let major = parts[0].isEmpty ? 0 : UInt16(parts[0], radix: 16)
        let minor = parts[1].isEmpty ? 0 : UInt16(parts[1], radix: 16)
        guard let major, let minor else { return nil }
        self.init(major: major, minor: minor)
    }

    /// As tc prints it: "root", "none", or hex "1:10" / "1:" (minor 0).
    public var description: String {
        switch rawValue {
        case 0xFFFF_FFFF: return "root"
        case 0: return "none"
        default: return String(major, radix: 16) + ":" + (minor == 0 ? "" : String(minor, radix: 16))
        }
    }
}

/// The two clsact hooks a BPF filter attaches to.
public enum TCHook: String, Sendable, CaseIterable {
    /// Packets the interface receives (parent ffff:fff2).
    case ingress
    /// Packets the interface sends (parent ffff:fff3).
    case egress
    /// The filter parent: ffff:fff2 or ffff:fff3.
    public var parent: TCHandle { self == .ingress ? .ingressHook : .egressHook }
}

/// Ethernet protocol numbers for filter matching (host order; sent as htons in tcm_info).
public enum EtherProtocol {
    /// ETH_P_ALL: every packet (the default).
    public static let all: UInt16 = 0x0003
    /// ETH_P_IP.
    public static let ipv4: UInt16 = 0x0800
    /// ETH_P_IPV6.
    public static let ipv6: UInt16 = 0x86DD
    /// ETH_P_ARP.
    public static let arp: UInt16 = 0x0806
    /// ETH_P_8021Q: VLAN-tagged frames.
    public static let vlan: UInt16 = 0x8100
}
