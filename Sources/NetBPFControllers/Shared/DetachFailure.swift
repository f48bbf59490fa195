import NetBPFAttach

/// An attachment that `stop()` of an example (XDPExampleRun, ICMPv6EchoMonitor) could not undo:
/// its record and pins stay, so `netbpf detach` can try again.
public struct DetachFailure: Error, CustomStringConvertible, Sendable {
    /// The attachment that stays (its record and pins are kept).
    public let record: AttachmentRecord
    /// Why the undo failed (the error's description).
    public let reason: String

    /// A failure to undo `record`.
    public init(record: AttachmentRecord, error: Error) {
        self.record = record
        reason = "\(error)"
    }

    /// `netbpf detach xdp|tc IFACE --name NAME [--netns NS]`: the command that retries it.
    public var retry: String {
        let family = record.kind == .xdpLink || record.kind == .xdpNetlink ? "xdp" : "tc"
        return "netbpf detach \(family) \(record.interface) --name \(record.programName)" + (record.namespace.map { " --netns \($0)" } ?? "")
    }

    /// "could not detach NAME from PLACE: REASON".
    public var description: String { "could not detach \(record.programName) from \(record.place): \(reason)" }
}
