import CLibBPF
import CNetBPFShims
import Glibc

extension BPFProgram {
    /// Attaches a uprobe (or uretprobe) to `symbol` in an executable or shared library, or to a
    /// file offset when `symbol` is nil. `binary` is a path, a library name ("c", "libc.so.6") or a
    /// program on PATH; with `pid` the probe fires only in that process (and the library is looked
    /// up in its mappings). Uses the uprobe PMU (perf_event_open, 4.17) and
    /// bpf_program__attach_perf_event_opts (a BPF perf link on 5.15+).
    /// - Throws: `BPFError(.notFound)` for a process, file or function that does not exist;
    ///   `.unsupported` without the uprobe PMU (CONFIG_UPROBE_EVENTS).
    public func attachUprobe(binary: String, symbol: String?, offset: UInt64 = 0, pid: Int32? = nil,
                             retprobe: Bool = false, cookie: UInt64 = 0) throws -> BPFLink {
        let p = try requirePointer("attach uprobe")
        if let pid { try ProcessCheck.require(pid) }
        let path = try BinaryLocator.locate(binary, pid: pid)
        var fileOffset = offset
        if let symbol {
            let elf = try ELFFile(path: path)
            fileOffset = try elf.fileOffset(ofSymbol: symbol) + offset
        }
        guard let pmu = ProbePMU.named("uprobe") else {
            throw BPFError(.unsupported, operation: "attach uprobe", subject: binary,
                           message: "no uprobe PMU (/sys/bus/event_source/devices/uprobe): kernel built without CONFIG_UPROBE_EVENTS")
        }
        let what = "\(retprobe ? "uretprobe" : "uprobe"):\(path):\(symbol ?? "0x" + String(fileOffset, radix: 16))"
        let fd = nb_perf_open_probe(pmu.type, Int32(pmu.retprobeBit), retprobe ? 1 : 0, path, fileOffset, pid ?? -1)
        guard fd >= 0 else { throw BPFError.system("perf_event_open(uprobe)", subject: what, errno: fd) }
        return try attachPerfEventFD(p, fd: fd, cookie: cookie, description: what)
    }
}
