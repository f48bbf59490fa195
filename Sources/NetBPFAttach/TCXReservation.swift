import Dispatch
import Foundation
import NetBPF
import NetBPFNetlink

/// A tcx link made ahead of the program it is for. BPF_LINK_CREATE on a tcx hook waits for an
/// RCU grace period before it returns (tcx_entry_sync(): 6-15 ms here, most of a warm attach);
/// BPF_LINK_UPDATE, which swaps the program of an existing link in place, does not. So
/// `netbpf attach tc` starts the link on a background thread with a pass-through program
/// (`BPFProgram.tcxPassThrough`, named netbpf_pending) while it compiles and loads the real one,
/// then `Attacher.attachTC` swaps the real one in. Until then the hook behaves as if nothing
/// were attached. A reservation that is not taken is detached by `cancel()`; if the process
/// dies first, the kernel detaches it when the link fd closes (it is never pinned).
/// If making the reservation fails for any reason, the attach goes the usual way and reports
/// its own error.
public final class TCXReservation: @unchecked Sendable {
    let interface: String
    let namespace: String?
    let direction: TCDirection
    let position: TCXPosition
    private let made = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var link: BPFLink?
    private var placeholder: BPFProgram?
    private var ifindex: Int32 = 0

    /// Starts making the link on its own thread, in `namespace`'s network namespace.
    public init(interface: String, namespace: String?, direction: TCDirection, position: TCXPosition) {
        self.interface = interface
        self.namespace = namespace
        self.direction = direction
        self.position = position
        Thread.detachNewThread { [self] in
            let made = try? inNamespace(namespace) { () -> (BPFLink, BPFProgram, Int32) in
                let ifindex = try socket(in: namespace).interfaceIndex(.name(interface))
                let placeholder = try BPFProgram.tcxPassThrough()
                let link = try placeholder.attachTCX(ifindex: ifindex, direction: direction, position: position)
                Features.shared.noteTCXLinkCreated()
                return (link, placeholder, ifindex)
            }
            lock.lock()
            if let made { (link, placeholder, ifindex) = made }
            lock.unlock()
            self.made.signal()
        }
    }

    /// Waits for the link; hands it over once, with the program holding its place, if it was
    /// made for this hook (nil otherwise: the caller attaches the usual way).
    func take(interface: String, namespace: String?, direction: TCDirection, position: TCXPosition, ifindex: Int32)
        -> (link: BPFLink, placeholder: BPFProgram)? {
        waitUntilMade()
        lock.lock(); defer { lock.unlock() }
        guard interface == self.interface, namespace == self.namespace, direction == self.direction,
              position == self.position, ifindex == self.ifindex,
              let link, let placeholder else { return nil }
        self.link = nil
        return (link, placeholder)
    }

    /// Detaches the link if it was made and not taken. Idempotent; waits for the thread.
    public func cancel() {
        waitUntilMade()
        lock.lock()
        let unused = link
        link = nil
        lock.unlock()
        unused?.detach()
    }

    /// The semaphore is signalled once, when the thread is done; passing the signal on makes it a
    /// latch every later wait goes through.
    private func waitUntilMade() {
        made.wait()
        made.signal()
    }
}
