internal import CMnl
import Glibc

/// An HTB class (tc's `class add ... htb rate R [ceil C] [burst B] [cburst CB] [prio P] [quantum Q]`).
/// Rates are bits per second, as tc takes them ("1mbit" = 1_000_000); sizes in bytes.
public struct HTBClassOptions: Sendable, Equatable {
    /// Guaranteed rate (TCA_HTB_PARMS, or TCA_HTB_RATE64 above 32 bits of bytes/s); at least 8.
    public var rateBitsPerSecond: UInt64
    /// Defaults to the rate.
    public var ceilBitsPerSecond: UInt64?
    /// Bytes that may be sent at ceil speed; default rate/HZ + mtu, as tc computes.
    public var burstBytes: UInt32?
    /// Bytes that may be sent at ceil speed beyond ceil; default ceil/HZ + mtu, as tc computes.
    public var ceilBurstBytes: UInt32?
    /// Order in which classes get spare bandwidth: lower first (tc's `prio`).
    public var priority: UInt32 = 0
    /// 0 lets the kernel derive it from rate / r2q.
    public var quantum: UInt32 = 0
    /// Largest packet, for the rate tables and the default burst (tc's 1600).
    public var mtu: UInt32 = 1600

    /// Options with tc's defaults for everything but the rate; each parameter sets the property
    /// of the same name.
    public init(rateBitsPerSecond: UInt64, ceilBitsPerSecond: UInt64? = nil, burstBytes: UInt32? = nil,
                ceilBurstBytes: UInt32? = nil, priority: UInt32 = 0, quantum: UInt32 = 0, mtu: UInt32 = 1600) {
        self.rateBitsPerSecond = rateBitsPerSecond
        self.ceilBitsPerSecond = ceilBitsPerSecond
        self.burstBytes = burstBytes
        self.ceilBurstBytes = ceilBurstBytes
        self.priority = priority
        self.quantum = quantum
        self.mtu = mtu
    }
}

/// A traffic class as RTM_NEWTCLASS reports it.
public struct TCClassInfo: Sendable, Equatable {
    /// The interface it is on (tcm_ifindex).
    public var interfaceIndex: Int32
    /// The class's qdisc kind (TCA_KIND): "htb", ...
    public var kind: String
    /// Its class id ("1:10").
    public var handle: TCHandle
    /// The qdisc or class it hangs under.
    public var parent: TCHandle
    /// HTB: rate and ceil in bits per second (64-bit attributes preferred).
    public var rateBitsPerSecond: UInt64?
    /// HTB: ceil in bits per second; nil for other kinds.
    public var ceilBitsPerSecond: UInt64?

    package init?(_ m: NetlinkMessage) {
        guard m.type == UInt16(RTM_NEWTCLASS), let t = m.familyHeader(tcmsg.self) else { return nil }
        let a = m.attributes(after: tcmsg.self)
        interfaceIndex = t.tcm_ifindex
        kind = a.string(UInt16(TCA_KIND)) ?? ""
        handle = TCHandle(rawValue: t.tcm_handle)
        parent = TCHandle(rawValue: t.tcm_parent)
        if kind == "htb", let o = a.nested(UInt16(TCA_OPTIONS)), let p = o.raw(UInt16(TCA_HTB_PARMS), as: tc_htb_opt.self) {
            rateBitsPerSecond = Self.bits(o.u64(UInt16(TCA_HTB_RATE64)) ?? UInt64(p.rate.rate))
            ceilBitsPerSecond = Self.bits(o.u64(UInt16(TCA_HTB_CEIL64)) ?? UInt64(p.ceil.rate))
        }
    }

    /// Bytes per second -> bits per second, saturating: a 64-bit rate attribute above 2^61
    /// overflowed the multiplication and trapped (found by fuzz/netlink.swift).
    static func bits(_ bytesPerSecond: UInt64) -> UInt64 {
        let (bits, overflow) = bytesPerSecond.multipliedReportingOverflow(by: 8)
        return overflow ? UInt64.max : bits
    }
}

/// HTB classes: RTM_NEWTCLASS / RTM_DELTCLASS / RTM_GETTCLASS (kernel 2.4.20; 64-bit rates 3.13).
extension NetlinkSocket {
    /// tc's q_htb.c htb_parse_class_opt, attribute for attribute: [TCA_HTB_RATE64]
    /// [TCA_HTB_CEIL64] TCA_HTB_PARMS TCA_HTB_RTAB TCA_HTB_CTAB inside TCA_OPTIONS.
    package static func htbClassRequest(ifindex: Int32, parent: TCHandle, classID: TCHandle, _ o: HTBClassOptions,
                                        replace: Bool = false, clock: PacketSchedulerClock = .system) -> NetlinkRequest {
        let req = NetlinkRequest(type: UInt16(RTM_NEWTCLASS),
                                 flags: NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL))
        req.putHeader(tcHeader(ifindex: ifindex, handle: classID.rawValue, parent: parent.rawValue))
        req.put(UInt16(TCA_KIND), string: "htb")

        let rate64 = o.rateBitsPerSecond / 8
        let ceil64 = (o.ceilBitsPerSecond ?? o.rateBitsPerSecond) / 8
        var opt = tc_htb_opt()
        opt.rate.rate = rate64 >= 1 << 32 ? UInt32.max : UInt32(rate64)
        opt.ceil.rate = ceil64 >= 1 << 32 ? UInt32.max : UInt32(ceil64)
        let buffer = o.burstBytes ?? UInt32(clamping: rate64 / clock.hz + UInt64(o.mtu))
        let cbuffer = o.ceilBurstBytes ?? UInt32(clamping: ceil64 / clock.hz + UInt64(o.mtu))
        let rtab = clock.rateTable(rate: opt.rate.rate, mtu: o.mtu)
        let ctab = clock.rateTable(rate: opt.ceil.rate, mtu: o.mtu)
        for (spec, cellLog) in [(\tc_htb_opt.rate, rtab.cellLog), (\tc_htb_opt.ceil, ctab.cellLog)] {
            opt[keyPath: spec].cell_log = cellLog
            opt[keyPath: spec].cell_align = -1
            opt[keyPath: spec].linklayer = UInt8(TC_LINKLAYER_ETHERNET.rawValue)
        }
        opt.buffer = clock.transmitTime(rate: rate64, size: buffer)
        opt.cbuffer = clock.transmitTime(rate: ceil64, size: cbuffer)
        opt.quantum = o.quantum
        opt.prio = o.priority

        req.nest(UInt16(TCA_OPTIONS)) {
            if rate64 >= 1 << 32 { req.put(UInt16(TCA_HTB_RATE64), u64: rate64) }
            if ceil64 >= 1 << 32 { req.put(UInt16(TCA_HTB_CEIL64), u64: ceil64) }
            req.put(UInt16(TCA_HTB_PARMS), raw: opt)
            req.put(UInt16(TCA_HTB_RTAB), bytes: rateTableBytes(rtab.table))
            req.put(UInt16(TCA_HTB_CTAB), bytes: rateTableBytes(ctab.table))
        }
        return req
    }

    /// Adds an HTB class `classID` (e.g. "1:10") under `parent` (the qdisc "1:" or a class):
    /// RTM_NEWTCLASS with tc's rate tables.
    /// - Parameter replace: change an existing class (NLM_F_REPLACE) instead of failing with EEXIST.
    /// - Throws: `NetlinkError` `.exists` when the class exists and `replace` is false;
    ///   `.invalidArgument` for parent 0 or a rate under 8 bit/s; `.notFound` for a missing interface.
    public func addHTBClass(on interface: Interface, parent: TCHandle, classID: TCHandle, _ options: HTBClassOptions,
                            replace: Bool = false) throws {
        try Self.refuseParentZero(parent, operation: "RTM_NEWTCLASS", subject: "class \(classID) dev \(interface)")
        guard options.rateBitsPerSecond >= 8 else {
            throw NetlinkError(.invalidArgument, operation: "RTM_NEWTCLASS", subject: "class \(classID) dev \(interface)",
                               errno: EINVAL, message: "an HTB class needs a rate of at least 8 bit/s")
        }
        let index = try interfaceIndex(interface)
        let req = Self.htbClassRequest(ifindex: index, parent: parent, classID: classID, options, replace: replace)
        try runTC(req, interface: interface, what: "class \(classID)") { e in
            if e.errno == EEXIST { e.message = "class \(classID) already exists on '\(interface)' (EEXIST)" }
        }
    }

    /// Deletes class `classID` (RTM_DELTCLASS).
    /// - Throws: `NetlinkError` with the kernel's errno (ENOENT: no such class; EBUSY: filters or
    ///   child classes still use it).
    public func deleteClass(on interface: Interface, classID: TCHandle) throws {
        let index = try interfaceIndex(interface)
        let req = NetlinkRequest(type: UInt16(RTM_DELTCLASS), flags: 0)
        req.putHeader(Self.tcHeader(ifindex: index, handle: classID.rawValue, parent: 0))
        try runTC(req, interface: interface, what: "class \(classID)")
    }

    /// The classes of `interface` (RTM_GETTCLASS dump).
    public func classes(on interface: Interface) throws -> [TCClassInfo] {
        let index = try interfaceIndex(interface)
        let req = NetlinkRequest(type: UInt16(RTM_GETTCLASS), flags: 0)
        req.putHeader(Self.tcHeader(ifindex: index, handle: 0, parent: 0))
        return try dump(req, subject: interface.description).compactMap(TCClassInfo.init).filter { $0.interfaceIndex == index }
    }
}
