import CLibBPF
import CNetBPFShims
import Glibc

extension BPFProgram {
    func requirePointer(_ operation: String) throws -> OpaquePointer {
        guard let pointer else {
            throw BPFError(.state, operation: operation, subject: name, message: "program has no libbpf object (opened by id or pin)")
        }
        return pointer
    }
}

/// "No such process" as an error, before a probe or filter is set up for a PID.
package enum ProcessCheck {
    package static func exists(_ pid: Int32) -> Bool { pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) }

    package static func require(_ pid: Int32) throws {
        guard exists(pid) else {
            throw BPFError(.notFound, operation: "trace", subject: "pid \(pid)", errno: ESRCH, message: "no such process")
        }
    }
}


extension String {
    /// Trims the given characters from both ends (no Foundation).
    package func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
