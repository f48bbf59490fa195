import Glibc

/// What a live-frames generator should send: see `BPFProgram.generate(_:shouldStop:)`.
public struct LiveTrafficPlan: Sendable {
    /// The frame every run starts from (the program may rewrite its copy).
    public var frame: [UInt8]
    /// The interface the frames arrive on, in the calling thread's network namespace.
    public var ifindex: Int32
    /// Frames in all; nil: until `seconds` have passed or `shouldStop` says so.
    public var total: UInt64?
    /// Frames per second to hold; nil: as fast as the kernel runs them.
    public var rate: Double?
    /// Stop after this long (whichever of `total` and `seconds` comes first).
    public var seconds: Double?
    /// XDP: frames per kernel batch (1...256; 0: the kernel's default, 64).
    public var batchSize: UInt32 = 0
    /// tc: frames the program sends per run (handed to it in `__sk_buff.cb[0]`, 1...256).
    public var burst: UInt32 = 32
    /// At a set rate, one test run sends this much time's worth of frames, then sleeps until
    /// they are due: short enough that the traffic looks steady to a receiver, long enough that
    /// the per-call cost (a page pool set up per call) stays small.
    public var slice: Double = 0.001

    public init(frame: [UInt8], ifindex: Int32, total: UInt64? = nil, rate: Double? = nil, seconds: Double? = nil,
                batchSize: UInt32 = 0, burst: UInt32 = 32) {
        self.burst = burst
        self.frame = frame
        self.ifindex = ifindex
        self.total = total
        self.rate = rate
        self.seconds = seconds
        self.batchSize = batchSize
    }
}

/// What a live-frames generator sent.
public struct LiveTrafficReport: Sendable, Codable, Equatable {
    /// Frames sent: for XDP, the runs (each frame passed, sent or dropped as the program
    /// returned); for tc, the frames the program cloned out.
    public var frames: UInt64
    /// tc: frames the program failed to send (its return value's increase); XDP: always 0.
    public var failed: UInt64
    /// Wall time from the first test run to the end of the last.
    public var seconds: Double
    /// frames / seconds.
    public var rate: Double
    /// The generating thread's CPU time (user + system: the program and the delivery of every
    /// frame it passed run in this thread, in the syscall).
    public var cpuSeconds: Double
    /// Test runs made.
    public var calls: Int
    /// True when `shouldStop` ended it (a signal may have cut the last run short: see `frames`).
    public var interrupted: Bool
}

extension BPFProgram {
    /// Sends `plan.frame` in chunks, holding `plan.rate` by sleeping between chunks, like
    /// xdp-tools' xdp-trafficgen does with BPF_PROG_TEST_RUN. Two kinds of generator program:
    /// - XDP: live-frames mode (`testRunLive`, Linux 5.18): one frame per run, delivered as the
    ///   program returns (XDP_PASS: into the interface's receive path).
    /// - tc (sched_cls): a plain test run (4.12) with `__sk_buff.ifindex` = the interface and
    ///   `cb[0]` = `plan.burst`; the program sends that many frames per run itself with
    ///   bpf_clone_redirect() and returns how many it failed to send since it was loaded
    ///   (programs/tc_udp_gen.bpf.c). For kernels that refuse live frames.
    /// Runs in the calling thread: enter the interface's namespace first.
    /// - Parameter shouldStop: polled between chunks (e.g. a SIGINT flag).
    /// Use a freshly loaded tc program for each call: its count of failed frames lives as long as
    /// the program, and each call counts from 0.
    /// - Throws: `BPFError` from the first failing test run, `.invalidArgument` for another program
    ///   type or a rate outside (0, 1e9] frames/s.
    public func generate(_ plan: LiveTrafficPlan, shouldStop: () -> Bool = { false }) throws -> LiveTrafficReport {
        if let rate = plan.rate, !(rate > 0 && rate <= 1e9) {
            throw BPFError(.invalidArgument, operation: "generate", subject: name, message: "rate \(rate) is not more than 0 and at most 1e9 frames/s")
        }
        var failedSoFar: UInt32 = 0, failed: UInt64 = 0
        let send: (UInt64) throws -> UInt64
        switch type {
        case .xdp:
            send = { n in
                _ = try self.testRunLive(frame: plan.frame, ifindex: plan.ifindex, count: UInt32(n), batchSize: plan.batchSize)
                return n
            }
        case .schedCls:
            guard (1...256).contains(plan.burst) else {
                throw BPFError(.invalidArgument, operation: "generate", subject: name, message: "burst \(plan.burst) is not 1-256")
            }
            // struct __sk_buff up to cb[]: ifindex at offset 40, cb[0] at 48 (the kernel accepts
            // a shorter context and zeroes the rest).
            var context = [UInt8](repeating: 0, count: 68)
            withUnsafeBytes(of: UInt32(bitPattern: plan.ifindex).littleEndian) { context.replaceSubrange(40..<44, with: $0) }
            send = { n in
                // Whole bursts only, and a smaller last one, so a --repeat count is exact.
                let burst = min(UInt64(plan.burst), n), runs = n / burst
                withUnsafeBytes(of: UInt32(burst).littleEndian) { context.replaceSubrange(48..<52, with: $0) }
                let r = try self.testRun(data: plan.frame, context: context, repeat: Int(runs), dataOutCapacity: plan.frame.count + 64)
                let lost = UInt64(r.returnValue &- failedSoFar)
                failedSoFar = r.returnValue
                failed += lost
                return runs * burst - min(lost, runs * burst)
            }
        default:
            throw BPFError(.invalidArgument, operation: "generate", subject: name,
                           message: "a generator is an XDP program (live frames) or a tc program that sends with bpf_clone_redirect; \(name) is \(type)")
        }
        // 2^16 frames take ~10-50 ms in the kernel: short enough to notice a stop request.
        let maxChunk: UInt64 = 1 << 16
        let chunk = plan.rate.map { max(1, UInt64(min(Double(maxChunk), $0 * plan.slice))) } ?? maxChunk
        let start = monotonicSeconds(), cpuStart = threadCPUSeconds()
        var sent: UInt64 = 0, calls = 0, interrupted = false
        while true {
            if shouldStop() { interrupted = true; break }
            if let total = plan.total, sent >= total { break }
            let elapsed = monotonicSeconds() - start
            if let s = plan.seconds, elapsed >= s { break }
            var want = chunk
            if let rate = plan.rate {
                let ahead = Double(sent) / rate - elapsed // seconds of traffic sent before it was due
                if ahead > 0 {
                    sleepSeconds(min(ahead, plan.seconds.map { $0 - elapsed } ?? ahead))
                    continue
                }
                // Behind (the kernel could not keep up, or a sleep overran): catch up in bigger runs.
                want = min(maxChunk, UInt64(min(Double(maxChunk), -ahead * rate)) + chunk)
            }
            if let total = plan.total { want = min(want, total - sent) }
            do {
                let n = try send(want)
                // Nothing got out (every clone failed: an interface that is down drops them all):
                // say so rather than retry for ever.
                guard n > 0 else {
                    throw BPFError(.state, operation: "generate", subject: name,
                                   message: "the program sent no frame (\(failed) failed)", hint: "is the interface up?")
                }
                sent += n
            } catch let e as BPFError where e.errno == EINTR && shouldStop() {
                interrupted = true
                break
            }
            calls += 1
        }
        let seconds = monotonicSeconds() - start
        return LiveTrafficReport(frames: sent, failed: failed, seconds: seconds, rate: seconds > 0 ? Double(sent) / seconds : 0,
                                 cpuSeconds: threadCPUSeconds() - cpuStart, calls: calls, interrupted: interrupted)
    }
}

private func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

private func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

private func sleepSeconds(_ s: Double) {
    guard s > 0 else { return }
    var t = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
    nanosleep(&t, nil)
}
