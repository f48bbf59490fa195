import Foundation
import Glibc
import NetBPF
import NetBPFTestSupport
@testable import NetBPFTracing

/// A child process whose stdout is collected as it arrives (for peers like libbpf-tools and for
/// the netbpf binary itself): wait for a line, then interrupt it like Ctrl-C.
final class StreamingProcess: @unchecked Sendable {
    let process = Process()
    private let out = Pipe(), err = Pipe()
    private let lock = NSLock()
    private var buffer = Data()
    private var errBuffer = Data()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            self.lock.lock(); self.buffer.append(d); self.lock.unlock()
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            self.lock.lock(); self.errBuffer.append(d); self.lock.unlock()
        }
        try process.run()
    }

    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: buffer, as: UTF8.self) }
    var errorText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errBuffer, as: UTF8.self) }

    /// Waits until stdout contains `needle` (true) or the timeout passes or the process exits.
    func wait(for needle: String, timeout: Double = 60) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if text.contains(needle) { return true }
            if !process.isRunning { return text.contains(needle) }
            usleep(20_000)
        }
        return false
    }

    /// Stops the process, waits for the exit and returns everything printed. Foundation spawns
    /// children with the parent thread's signal mask (SIGINT and SIGTERM blocked here), so peers
    /// that do not unblock them are killed; their stdout is line-buffered, nothing is lost.
    /// `interruptible` sends SIGINT (netbpf unblocks it) to test a clean stop.
    @discardableResult
    func interrupt(interruptible: Bool = false) -> String {
        if process.isRunning { kill(process.processIdentifier, interruptible ? SIGINT : SIGKILL) }
        process.waitUntilExit()
        usleep(100_000)
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        lock.lock(); buffer.append(out.fileHandleForReading.readDataToEndOfFile()); lock.unlock()
        return text
    }

    /// Lines containing `marker`.
    func lines(containing marker: String) -> [String] { text.split(separator: "\n").map(String.init).filter { $0.contains(marker) } }
}

enum Workload {
    /// Runs a program to completion; returns its pid and exit status.
    @discardableResult
    static func run(_ path: String, _ args: [String]) throws -> (pid: Int32, status: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (p.processIdentifier, p.terminationStatus)
    }

    /// A loopback TCP session: the client sends `clientBytes`, the server answers `serverBytes`,
    /// both close. Returns (server port, client port).
    static func tcpSession(clientBytes: Int, serverBytes: Int) throws -> (server: UInt16, client: UInt16) {
        let script = """
        import socket, threading
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
        port = s.getsockname()[1]
        def serve():
            c, _ = s.accept()
            while c.recv(65536): pass
            c.sendall(b'y' * \(serverBytes)); c.close()
        t = threading.Thread(target=serve); t.start()
        c = socket.create_connection(('127.0.0.1', port))
        cport = c.getsockname()[1]
        c.sendall(b'x' * \(clientBytes)); c.shutdown(socket.SHUT_WR)
        while c.recv(65536): pass
        c.close(); t.join(); s.close()
        print(port, cport)
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", script]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let parts = String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt16($0) }
        guard parts.count == 2 else { throw BPFError(.state, operation: "tcp workload", message: "python3 printed no ports") }
        return (parts[0], parts[1])
    }
}

/// Drains a tool's ring buffer in-process until `done` says so or the timeout passes.
func collectEvents<E>(_ session: ToolSession, timeout: Double = 10, decode: @escaping (UnsafeRawBufferPointer) -> E,
                      until done: ([E]) -> Bool) throws -> [E] {
    var events: [E] = []
    let ring = try RingBuffer(map: session.map("events")) { events.append(decode($0)) }
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        try ring.poll(timeoutMilliseconds: 50)
        if done(events) { break }
    }
    return events
}

let libbpfTools = "/usr/sbin"
func hasPeer(_ tool: String) -> Bool { FileManager.default.isExecutableFile(atPath: "\(libbpfTools)/\(tool)") }

/// Starts a libbpf-tools peer with line-buffered stdout and waits for its header.
func startPeer(_ tool: String, _ args: [String] = [], header: String) throws -> StreamingProcess {
    let p = try StreamingProcess("/usr/bin/stdbuf", ["-oL", "\(libbpfTools)/\(tool)"] + args)
    guard p.wait(for: header, timeout: 30) else {
        p.interrupt()
        throw BPFError(.state, operation: "start \(tool)", message: "no header from libbpf-tools \(tool): \(p.errorText)")
    }
    return p
}

func columns(_ line: String) -> [String] { line.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
