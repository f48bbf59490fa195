import CLibBPF
import CNetBPFShims
import Glibc

/// What a sampling perf event counts and how often it fires.
public struct SamplingEvent: Sendable, Equatable {
    /// PERF_TYPE_HARDWARE (0) or PERF_TYPE_SOFTWARE (1).
    public var type: UInt32
    /// PERF_COUNT_SW_CPU_CLOCK (0), PERF_COUNT_HW_CPU_CYCLES (0) ...
    public var config: UInt64
    /// How often the event fires.
    public enum Rate: Sendable, Equatable {
        /// Samples per second per CPU (perf_event_attr.sample_freq with freq = 1).
        case frequency(UInt64)
        /// One sample every N events (sample_period), nanoseconds for the clock events.
        case period(UInt64)
    }
    /// How often the event fires.
    public var rate: Rate

    /// Any perf event by type and config (see perf_event_open(2)).
    public init(type: UInt32, config: UInt64, rate: Rate) { self.type = type; self.config = config; self.rate = rate }

    /// The software cpu-clock event (works in VMs without a PMU): `hz` samples a second per CPU.
    public static func cpuClock(frequency hz: UInt64) -> SamplingEvent { SamplingEvent(type: 1, config: 0, rate: .frequency(hz)) }
    /// The software cpu-clock event every `nanoseconds` of CPU time.
    public static func cpuClock(periodNanoseconds ns: UInt64) -> SamplingEvent { SamplingEvent(type: 1, config: 0, rate: .period(ns)) }
}

extension BPFProgram {
    /// Attaches a perf_event program to a sampling event on each CPU (all online CPUs by default),
    /// optionally only while `pid` runs. One link per CPU; CPUs where the event does not exist
    /// are skipped. perf_event_open + BPF perf link (bpf_program__attach_perf_event, 4.9).
    /// - Throws: `BPFError(.notFound)` for a process that does not exist; `.permission` without
    ///   CAP_PERFMON; `.unsupported` when no CPU has the event.
    public func attachPerfEvent(_ event: SamplingEvent, cpus: [Int]? = nil, pid: Int32 = -1) throws -> [BPFLink] {
        let p = try requirePointer("attach perf_event")
        if pid >= 0 { try ProcessCheck.require(pid) }
        var links: [BPFLink] = []
        for cpu in cpus ?? CPUs.online() {
            let (value, freq): (UInt64, Int32) = switch event.rate { case .frequency(let f): (f, 1); case .period(let n): (n, 0) }
            let fd = nb_perf_open_sampling(event.type, event.config, value, freq, pid, Int32(cpu))
            if fd < 0 {
                if -fd == ENODEV || -fd == ENOENT || -fd == EOPNOTSUPP { continue } // CPU offline / no such counter here
                throw BPFError.system("perf_event_open(sampling)", subject: "cpu \(cpu)", errno: fd,
                                      hint: -fd == EACCES || -fd == EPERM ? "needs CAP_PERFMON; see /proc/sys/kernel/perf_event_paranoid" : nil)
            }
            links.append(try attachPerfEventFD(p, fd: fd, cookie: 0, description: "perf_event type \(event.type) config \(event.config) cpu \(cpu)"))
        }
        guard !links.isEmpty else {
            throw BPFError(.unsupported, operation: "attach perf_event", subject: name, message: "the event could not be opened on any CPU")
        }
        return links
    }

    /// The shared perf-event path of kprobes, uprobes, kprobe_events and sampling: the link owns
    /// the perf event fd.
    func attachPerfEventFD(_ p: OpaquePointer, fd: Int32, cookie: UInt64, description: String) throws -> BPFLink {
        let ((link, err), log) = LibbpfLog.capture { (nb_attach_perf_event(p, fd, cookie), errno) }
        guard let link else {
            close(fd)
            throw AttachErrors.error(operation: "attach perf event", subject: description, section: section, errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: description)
    }
}

/// Online CPUs, from /sys/devices/system/cpu/online ("0-1,4").
public enum CPUs {
    /// The online CPUs; all `sysconf(_SC_NPROCESSORS_ONLN)` from 0 when the file cannot be read.
    public static func online() -> [Int] {
        guard let text = readTextFile("/sys/devices/system/cpu/online") else { return Array(0..<Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
        return parseList(text)
    }

    /// The CPUs of a kernel CPU list ("0-3,8,10-11"); malformed parts are skipped.
    public static func parseList(_ text: String) -> [Int] {
        var out: [Int] = []
        for part in text.trimmingCharacters(in: " \n").split(separator: ",") {
            let ends = part.split(separator: "-").compactMap { Int($0) }
            if ends.count == 2 { out += Array(ends[0]...ends[1]) } else if ends.count == 1 { out.append(ends[0]) }
        }
        return out
    }
}

