internal import CMnl
internal import CNetBPFShims
import Glibc

/// Where an XDP program runs (XDP_FLAGS_*_MODE, kernel 4.12).
public enum XDPMode: String, Sendable, CaseIterable {
    /// Generic XDP (XDP_FLAGS_SKB_MODE): after the skb is built; works on every device.
    case generic
    /// Native XDP (XDP_FLAGS_DRV_MODE) in the driver; veth supports it.
    case native
    /// Offloaded to the NIC (XDP_FLAGS_HW_MODE).
    case offload

    var flag: UInt32 {
        switch self {
        case .generic: return UInt32(XDP_FLAGS_SKB_MODE)
        case .native: return UInt32(XDP_FLAGS_DRV_MODE)
        case .offload: return UInt32(XDP_FLAGS_HW_MODE)
        }
    }
}

/// The XDP state of an interface, from the IFLA_XDP nest of RTM_NEWLINK (IFLA_XDP_ATTACHED,
/// IFLA_XDP_PROG_ID 4.13, IFLA_XDP_{SKB,DRV,HW}_PROG_ID 4.19 with several modes at once).
public struct XDPStatus: Sendable, Equatable {
    /// IFLA_XDP_ATTACHED values.
    public enum Attached: UInt8, Sendable {
        /// XDP_ATTACHED_NONE.
        case none = 0
        /// XDP_ATTACHED_DRV: one program, in the driver.
        case native = 1
        /// XDP_ATTACHED_SKB: one program, generic.
        case generic = 2
        /// XDP_ATTACHED_HW: one program, offloaded.
        case offload = 3
        /// XDP_ATTACHED_MULTI: programs in more than one mode (see the per-mode ids).
        case multiple = 4
    }
    /// Which modes have a program.
    public var attached: Attached = .none
    /// IFLA_XDP_PROG_ID: the program when exactly one mode is in use.
    public var programID: UInt32?
    /// The generic-mode program (IFLA_XDP_SKB_PROG_ID, or `programID` when it is the only one).
    public var genericProgramID: UInt32?
    /// The native-mode program (IFLA_XDP_DRV_PROG_ID, or `programID` when it is the only one).
    public var nativeProgramID: UInt32?
    /// The offloaded program (IFLA_XDP_HW_PROG_ID, or `programID` when it is the only one).
    public var offloadProgramID: UInt32?

    /// The state of an interface without XDP.
    public init() {}

    init(attributes a: AttributeTable) {
        attached = Attached(rawValue: a.u8(UInt16(IFLA_XDP_ATTACHED)) ?? 0) ?? .none
        programID = a.u32(UInt16(IFLA_XDP_PROG_ID))
        genericProgramID = a.u32(UInt16(IFLA_XDP_SKB_PROG_ID))
        nativeProgramID = a.u32(UInt16(IFLA_XDP_DRV_PROG_ID))
        offloadProgramID = a.u32(UInt16(IFLA_XDP_HW_PROG_ID))
        // With a single mode the kernel sends only IFLA_XDP_PROG_ID; fill the per-mode id too.
        switch attached {
        case .generic: genericProgramID = genericProgramID ?? programID
        case .native: nativeProgramID = nativeProgramID ?? programID
        case .offload: offloadProgramID = offloadProgramID ?? programID
        default: break
        }
    }

    /// The modes with a program attached.
    public var modes: [XDPMode] {
        var out: [XDPMode] = []
        if genericProgramID != nil { out.append(.generic) }
        if nativeProgramID != nil { out.append(.native) }
        if offloadProgramID != nil { out.append(.offload) }
        return out
    }

    /// The program attached in `mode`, if any.
    public func programID(in mode: XDPMode) -> UInt32? {
        switch mode {
        case .generic: return genericProgramID
        case .native: return nativeProgramID
        case .offload: return offloadProgramID
        }
    }
}

extension NetlinkSocket {
    /// The RTM_SETLINK request that sets IFLA_XDP on `ifindex` (what libbpf's bpf_xdp_attach
    /// sends): IFLA_XDP_FD (-1 detaches), IFLA_XDP_FLAGS, and IFLA_XDP_EXPECTED_FD (kernel 5.7)
    /// with XDP_FLAGS_REPLACE to make the change conditional on the current program.
    package static func xdpRequest(ifindex: Int32, fd: Int32, flags: UInt32, expectedFD: Int32?) -> NetlinkRequest {
        let req = NetlinkRequest(type: UInt16(RTM_SETLINK), flags: 0)
        var ifi = ifinfomsg()
        ifi.ifi_family = UInt8(AF_UNSPEC)
        ifi.ifi_index = ifindex
        req.putHeader(ifi)
        req.nest(UInt16(IFLA_XDP)) {
            req.put(UInt16(IFLA_XDP_FD), s32: fd)
            var f = flags
            if expectedFD != nil { f |= UInt32(XDP_FLAGS_REPLACE) }
            if f != 0 { req.put(UInt16(IFLA_XDP_FLAGS), u32: f) }
            if let expectedFD { req.put(UInt16(IFLA_XDP_EXPECTED_FD), s32: expectedFD) }
        }
        return req
    }

    /// Attaches `program` as the XDP program of `interface` (RTM_SETLINK + IFLA_XDP, kernel 4.8;
    /// modes 4.12). By default it refuses to replace a program already there
    /// (XDP_FLAGS_UPDATE_IF_NOEXIST); `replacing` swaps atomically only if `replacing` is the
    /// current program (IFLA_XDP_EXPECTED_FD, kernel 5.7). Returns the resulting state.
    /// - Throws: `.exists` when a program is attached and `onlyIfNone` is set, or the expected
    ///   program is not the current one; `.notFound` for a missing interface.
    @discardableResult
    public func attachXDP(_ program: some AttachableProgram, to interface: Interface, mode: XDPMode = .generic,
                          onlyIfNone: Bool = true, replacing expected: (any AttachableProgram)? = nil) throws -> XDPStatus {
        let index = try interfaceIndex(interface)
        var flags = mode.flag
        if onlyIfNone && expected == nil { flags |= UInt32(XDP_FLAGS_UPDATE_IF_NOEXIST) }
        let req = Self.xdpRequest(ifindex: index, fd: program.fd, flags: flags, expectedFD: expected?.fd)
        try runXDP(req, interface: interface, mode: mode)
        return try xdp(on: .index(index))
    }

    /// Detaches the XDP program of `interface` in `mode`, or in every mode that has one when
    /// `mode` is nil (a detach without the right mode flag silently does nothing, so the modes
    /// are read first). With `expectedProgramID`, detaches only if that program is the one
    /// attached: the kernel compares atomically (IFLA_XDP_EXPECTED_FD + XDP_FLAGS_REPLACE, 5.7).
    /// Returns whether anything was detached.
    /// - Throws: `.programMismatch` if another program is attached.
    @discardableResult
    public func detachXDP(from interface: Interface, mode: XDPMode? = nil, expectedProgramID: UInt32? = nil) throws -> Bool {
        let index = try interfaceIndex(interface)
        let status = try xdp(on: .index(index))
        let modes = mode.map { [$0] } ?? status.modes
        var detached = false
        for m in modes {
            guard let current = status.programID(in: m) else { continue }
            var expectedFD: Int32? = nil
            if let expectedProgramID {
                guard current == expectedProgramID else {
                    throw NetlinkError(.programMismatch, operation: "RTM_SETLINK", subject: interface.description,
                                       message: "XDP (\(m.rawValue)) runs program id \(current), not \(expectedProgramID): not detaching someone else's program")
                }
                let fd = nb_prog_fd_by_id(expectedProgramID)
                guard fd >= 0 else { throw NetlinkError.system("BPF_PROG_GET_FD_BY_ID", subject: "id \(expectedProgramID)", errno: fd) }
                expectedFD = fd
            }
            defer { if let expectedFD { close(expectedFD) } }
            let req = Self.xdpRequest(ifindex: index, fd: -1, flags: m.flag, expectedFD: expectedFD)
            do {
                try runXDP(req, interface: interface, mode: m)
            } catch let e as NetlinkError where e.errno == EEXIST && expectedFD != nil {
                throw NetlinkError(.programMismatch, operation: e.operation, subject: e.subject, errno: e.errno,
                                   message: "XDP (\(m.rawValue)) program changed: it is no longer id \(expectedProgramID!); not detaching",
                                   kernelMessage: e.kernelMessage)
            }
            detached = true
        }
        return detached
    }

    /// The XDP state of `interface` (RTM_GETLINK, IFLA_XDP).
    public func xdp(on interface: Interface) throws -> XDPStatus {
        try self.interface(interface).xdp
    }

    private func runXDP(_ req: NetlinkRequest, interface: Interface, mode: XDPMode) throws {
        do {
            _ = try execute(req, subject: interface.description)
        } catch var e as NetlinkError {
            if e.errno == ENODEV { throw interfaceNotFound(interface, operation: e.operation, kernelMessage: e.kernelMessage) }
            if e.errno == EBUSY || e.errno == EEXIST, e.hint == nil {
                e.hint = "another XDP program is attached (\(mode.rawValue) mode); detach it or pass replacing:"
            }
            if e.errno == EOPNOTSUPP, e.hint == nil, mode != .generic {
                e.hint = "the driver lacks \(mode.rawValue) XDP; use mode .generic"
            }
            throw e
        }
    }
}
