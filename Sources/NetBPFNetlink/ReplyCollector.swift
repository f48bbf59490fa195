internal import CMnl
import Glibc

/// Consumes received messages for one request and decides when its reply is complete, so the
/// socket's receive loop stays small and the rules can be tested without a kernel:
/// - messages whose sequence number or port id is not ours are stale (left over from an
///   abandoned request) and skipped;
/// - an ACK request ends at NLMSG_ERROR (errno 0 = ACK, else failure), after any replies
///   (RTM_GETLINK answers with RTM_NEWLINK, then the ACK);
/// - a dump (NLM_F_DUMP, multi-part NLM_F_MULTI) ends at NLMSG_DONE, whose int may carry an
///   error and extack; NLM_F_DUMP_INTR on any part marks the dump inconsistent.
package struct ReplyCollector {
    package enum Mode { case ack, dump }
    package enum Outcome: Equatable { case needMore, done, failed(NetlinkAck) }

    package let mode: Mode
    package let sequence: UInt32
    package let portID: UInt32
    package private(set) var messages: [NetlinkMessage] = []
    /// Some part carried NLM_F_DUMP_INTR: the kernel's table changed during the dump.
    package private(set) var interrupted = false
    /// An extack text that came with a successful ACK (a warning).
    package private(set) var warning: String?
    package private(set) var skippedStale = 0

    package init(mode: Mode, sequence: UInt32, portID: UInt32) {
        self.mode = mode
        self.sequence = sequence
        self.portID = portID
    }

    package mutating func consume(_ m: NetlinkMessage) -> Outcome {
        guard m.sequence == sequence, m.portID == 0 || portID == 0 || m.portID == portID else {
            skippedStale += 1
            return .needMore
        }
        if m.dumpInterrupted { interrupted = true }
        switch Int32(m.type) {
        case NLMSG_NOOP:
            return .needMore
        case NLMSG_ERROR:
            guard let ack = NetlinkAck(error: m) else {
                return .failed(NetlinkAck(errno: EBADMSG))
            }
            if ack.errno == 0 {
                warning = ack.message
                return .done
            }
            return .failed(ack)
        case NLMSG_DONE:
            guard mode == .dump else { return .needMore }
            let ack = NetlinkAck(done: m) ?? NetlinkAck(errno: 0)
            return ack.errno == 0 ? .done : .failed(ack)
        case NLMSG_OVERRUN:
            return .failed(NetlinkAck(errno: ENOBUFS))
        default:
            messages.append(m)
            return .needMore
        }
    }
}

extension NetlinkAck {
    /// A locally made failure (malformed reply, overrun) without kernel text.
    package init(errno: Int32) {
        self.errno = errno
        message = nil
        offendingAttributeOffset = nil
        missingAttributeType = nil
    }
}
