import CNetBPFShims
import Glibc

extension BPFProgram {
    /// Attaches an XDP program with a BPF link (BPF_LINK_CREATE with BPF_XDP, kernel 5.9). `flags`
    /// are XDP_FLAGS_SKB_MODE (2) for generic mode or XDP_FLAGS_DRV_MODE (4) for driver mode.
    /// Call it in the device's network namespace.
    /// - Throws: `BPFError` with the errno: EBUSY (same mode) or EEXIST (another mode) when another
    ///   XDP program is attached,
    ///   EOPNOTSUPP/ENOTSUPP when the driver has no native XDP.
    public func attachXDPLink(ifindex: Int32, flags: UInt32) throws -> BPFLink {
        let fd = nb_xdp_link_create(self.fd, ifindex, flags)
        guard fd >= 0 else {
            var hint: String?
            if -fd == EBUSY || -fd == EEXIST { hint = "another XDP program is attached to this interface (netbpf list; netbpf detach xdp IFACE)" }
            if -fd == EOPNOTSUPP || -fd == ENOTSUP || -fd == 524 { hint = "the driver has no native XDP: use generic mode" }
            throw BPFError.system("BPF_LINK_CREATE(xdp)", subject: name, errno: fd, hint: hint)
        }
        return BPFLink(fd: OwnedFD(owning: fd), program: self,
                       description: "xdp \(InterfaceNames.name(of: UInt32(ifindex)))")
    }
}
