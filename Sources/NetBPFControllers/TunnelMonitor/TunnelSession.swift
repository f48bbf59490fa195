import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import Synchronization

/// What `netbpf tunnel-monitor IFACE` runs with.
package struct TunnelMonitorOptions: Sendable {
    package var interface: String
    package var namespace: String?
    package var ports: [UInt16] = [4789]
    package var maxConversations = 65536
    package var interval: Double = 1
    /// "ADDR:PORT" for the page, /api/snapshot, /events and /metrics.
    package var web: String?
    /// Where snapshot.json and delta.json are written each interval.
    package var jsonDirectory: String?
    package var historyLength = 300
    /// Conversations in the page's snapshot (the busiest) and in /metrics (the most bytes).
    package var webConversations = 500
    package var metricsConversations = 10_000
    package init(interface: String) { self.interface = interface }
}

/// The newest sample, shared between the sampling loop and the web server's threads; the
/// page's JSON and /metrics are built at most once per sample, on first request. Sendable: its
/// state sits behind a `Mutex`; waiting for a new sample polls it (every 20 ms).
final class TunnelLiveState: Sendable {
    private struct State {
        var sample: TunnelSample?
        var generation = 0
        var stopped = false
        var webCache: (Int, Data)?
        var metricsCache: (Int, Data)?
    }
    private let state = Mutex(State())
    let webConversations: Int
    let metricsConversations: Int

    init(webConversations: Int, metricsConversations: Int) {
        self.webConversations = webConversations
        self.metricsConversations = metricsConversations
    }

    /// How many samples were published.
    var generation: Int { state.withLock { $0.generation } }

    func publish(_ s: TunnelSample) {
        state.withLock {
            $0.sample = s
            $0.generation += 1
        }
    }

    func stop() {
        state.withLock { $0.stopped = true }
    }

    /// Waits for a sample newer than `generation` (or the stop, or the timeout).
    func wait(after generation: Int, timeout: Double) -> (generation: Int, stopped: Bool) {
        let deadline = monotonicSeconds() + timeout
        while true {
            let (now, stopped) = state.withLock { ($0.generation, $0.stopped) }
            if now != generation || stopped || monotonicSeconds() >= deadline { return (now, stopped) }
            usleep(20_000)
        }
    }

    private func current() -> (Int, TunnelSample?) {
        state.withLock { ($0.generation, $0.sample) }
    }

    func snapshot() -> TunnelSnapshot? {
        current().1?.snapshot(limit: webConversations)
    }

    func webJSON() -> Data {
        let (gen, s) = current()
        if let c = state.withLock({ $0.webCache }), c.0 == gen { return c.1 }
        let data = s.flatMap { try? $0.snapshot(limit: webConversations).json() } ?? Data("null".utf8)
        state.withLock { $0.webCache = (gen, data) }
        return data
    }

    func metrics() -> Data? {
        let (gen, s) = current()
        guard let s else { return nil }
        if let c = state.withLock({ $0.metricsCache }), c.0 == gen { return c.1 }
        let data = Data(TunnelPrometheus.render(s, maxConversations: metricsConversations).utf8)
        state.withLock { $0.metricsCache = (gen, data) }
        return data
    }
}

/// A running tunnel monitor: the BPF programs (or any counter source), the sampler, the JSON
/// files and the web server. `tick()` takes one sample; `stop()` stops the server and detaches
/// everything, also after a partial start.
///
/// Sendable: everything is `let` of Sendable types, the stop flag behind a `Mutex`.
package final class TunnelMonitorSession: Sendable {
    package let source: TunnelCounterSource
    package let sampler: TunnelSampler
    package let options: TunnelMonitorOptions
    package let server: HTTPServer?
    let state: TunnelLiveState
    private let monitor: TunnelMonitor?
    private let stopped = Mutex(false)

    /// Attaches the monitor and starts the web server (when asked); on any failure everything
    /// started so far is undone.
    package static func start(_ options: TunnelMonitorOptions, store: AttachmentStore = AttachmentStore()) throws -> TunnelMonitorSession {
        if let dir = options.jsonDirectory { try prepareDirectory(dir) }
        guard options.interval >= 0.05, options.interval <= 3600 else {
            throw ControllerError("--interval \(options.interval) is out of range", hint: "0.05 to 3600 seconds")
        }
        // Bind before attaching: a port in use fails without touching the interface.
        let state = TunnelLiveState(webConversations: options.webConversations, metricsConversations: options.metricsConversations)
        let server = try options.web.map { try makeServer($0, state: state, interval: options.interval) }
        let monitor: TunnelMonitor
        do {
            monitor = try TunnelMonitor.attach(interface: options.interface, namespace: options.namespace, ports: options.ports,
                                               maxConversations: options.maxConversations, store: store)
        } catch {
            server?.stop()
            throw error
        }
        let session = TunnelMonitorSession(source: monitor, monitor: monitor, options: options, state: state, server: server)
        server?.start()
        return session
    }

    /// A session over any counter source (the fake in unit tests); nothing is attached.
    package convenience init(source: TunnelCounterSource, options: TunnelMonitorOptions) throws {
        if let dir = options.jsonDirectory { try Self.prepareDirectory(dir) }
        let state = TunnelLiveState(webConversations: options.webConversations, metricsConversations: options.metricsConversations)
        let server = try options.web.map { try Self.makeServer($0, state: state, interval: options.interval) }
        self.init(source: source, monitor: nil, options: options, state: state, server: server)
        server?.start()
    }

    private init(source: TunnelCounterSource, monitor: TunnelMonitor?, options: TunnelMonitorOptions, state: TunnelLiveState, server: HTTPServer?) {
        self.source = source
        self.monitor = monitor
        self.options = options
        self.state = state
        self.server = server
        let ports = monitor?.ports ?? options.ports
        self.sampler = TunnelSampler(interface: options.interface, namespace: options.namespace, ports: ports,
                                     capacity: source.capacity, historyLength: options.historyLength)
    }

    static func prepareDirectory(_ dir: String) throws {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw ControllerError("--json-dir \(dir): cannot create it: \(error.localizedDescription)")
        }
        guard access(dir, W_OK) == 0 else { throw ControllerError("--json-dir \(dir): not writable") }
    }

    static func makeServer(_ web: String, state: TunnelLiveState, interval: Double) throws -> HTTPServer {
        try HTTPServer(listen: web) { request in
            switch request.path {
            case "/", "/index.html":
                return .body(status: 200, contentType: "text/html; charset=utf-8", Data(TunnelWebPage.live(snapshot: state.snapshot(), intervalSeconds: interval).utf8))
            case "/api/snapshot":
                return .body(status: 200, contentType: "application/json", state.webJSON())
            case "/metrics":
                guard let m = state.metrics() else {
                    return .body(status: 503, contentType: "text/plain; charset=utf-8", Data("no sample yet\n".utf8))
                }
                return .body(status: 200, contentType: TunnelPrometheus.contentType, m)
            case "/events":
                return .stream(contentType: "text/event-stream") { writer in
                    var generation = -1
                    var lastWrite = Date()
                    // The newest sample at once, then each new one; a comment line every 15 s keeps
                    // proxies from closing an idle stream. A failed write (client gone) ends it.
                    guard writer.write(Data("retry: \(Int(max(interval, 1) * 1000))\n\n".utf8)) else { return }
                    while !writer.isStopping {
                        if state.generation != generation {
                            generation = state.generation
                            guard writer.write(Data("data: ".utf8) + state.webJSON() + Data("\n\n".utf8)) else { return }
                            lastWrite = Date()
                        } else if Date().timeIntervalSince(lastWrite) > 15 {
                            guard writer.write(Data(": keep-alive\n\n".utf8)) else { return }
                            lastWrite = Date()
                        }
                        let w = state.wait(after: generation, timeout: 1)
                        if w.stopped { return }
                    }
                }
            case "/healthz":
                return .body(status: 200, contentType: "text/plain", Data("ok\n".utf8))
            default:
                return .body(status: 404, contentType: "text/plain; charset=utf-8", Data("not found: try /, /api/snapshot, /events or /metrics\n".utf8))
            }
        }
    }

    /// Reads the counters, samples them, writes the JSON files, publishes the sample to the
    /// web server, and returns it.
    @discardableResult
    package func tick() throws -> TunnelSample {
        let sample = sampler.sample(try source.read())
        if let dir = options.jsonDirectory {
            try Self.writeAtomically(try sample.snapshot().json(pretty: false), to: dir + "/snapshot.json")
            try Self.writeAtomically(try sample.delta().json(pretty: false), to: dir + "/delta.json")
        }
        state.publish(sample)
        return sample
    }

    /// Writes `data` through `OutputFile` (a temporary file renamed over a regular file, so readers
    /// see the old snapshot or the new one, never a part).
    package static func writeAtomically(_ data: Data, to path: String) throws {
        do { try OutputFile.write(Array(data), to: path) } catch { throw ControllerError("\(error)") }
    }

    /// Stops the web server (ending every stream) and detaches the programs. Idempotent.
    package func stop() {
        let wasStopped = stopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        if wasStopped { return }
        state.stop()
        server?.stop()
        try? monitor?.detach()
    }
}
