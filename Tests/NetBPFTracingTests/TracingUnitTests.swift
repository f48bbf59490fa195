import Foundation
import Testing
@testable import NetBPF
@testable import NetBPFTracing

/// Pure logic: tracefs format parsing, histograms in BCC's layout, ELF symbols, filters, patterns.
struct TracingUnitTests {
    static let openatFormat = """
    name: sys_enter_openat
    ID: 782
    format:
    \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
    \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
    \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
    \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

    \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
    \tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
    \tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
    \tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
    \tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

    print fmt: "dfd: 0x%08lx, filename: 0x%08lx", ((unsigned long)(REC->dfd)), ((unsigned long)(REC->filename))
    """

    /// biolatency -F names: blk_fill_rwbs letters to libbpf-tools' cmd_flags names.
    @Test func namesRequestFlagsFromRWBS() {
        #expect(RequestFlags.name(rwbs: "R") == "Read")
        #expect(RequestFlags.name(rwbs: "WS") == "Sync-Write")
        #expect(RequestFlags.name(rwbs: "WSM") == "Metadata-Sync-Write")
        #expect(RequestFlags.name(rwbs: "RA") == "ReadAhead-Read")
        #expect(RequestFlags.name(rwbs: "FWFS") == "PreFlush-FUA-Sync-Write")
        #expect(RequestFlags.name(rwbs: "F") == "Flush")
        #expect(RequestFlags.name(rwbs: "FF") == "PreFlush-Flush")
        #expect(RequestFlags.name(rwbs: "DE") == "SecureErase")
        #expect(RequestFlags.name(rwbs: "D") == "Discard")
        #expect(RequestFlags.name(rwbs: "N") == "Unknown")
        #expect(RequestFlags.name(rwbs: "") == "Unknown")
    }

    @Test func parsesTracepointFormat() throws {
        let f = try TracepointFormat(parsing: Self.openatFormat, category: "syscalls")
        #expect(f.name == "sys_enter_openat")
        #expect(f.id == 782)
        #expect(f.fields.count == 9)
        #expect(f.arguments.map(\.name) == ["__syscall_nr", "dfd", "filename", "flags", "mode"])
        let filename = try #require(f.field(named: "filename"))
        #expect(filename.offset == 24 && filename.size == 8 && filename.type == "const char *" && filename.isPointer)
        #expect(f.field(named: "common_pid")?.isCommon == true && f.field(named: "common_pid")?.isSigned == true)
        #expect(f.recordSize == 48)
        #expect(f.printFormat.hasPrefix("\"dfd:"))
    }

    @Test func decodesFieldsFromARecord() throws {
        let f = try TracepointFormat(parsing: Self.openatFormat, category: "syscalls")
        var record = [UInt8](repeating: 0, count: 48)
        record.withUnsafeMutableBytes { r in
            r.storeBytes(of: Int32(257), toByteOffset: 8, as: Int32.self)
            r.storeBytes(of: Int64(-100), toByteOffset: 16, as: Int64.self)   // AT_FDCWD
            r.storeBytes(of: UInt64(0x7ffd_1234), toByteOffset: 24, as: UInt64.self)
        }
        record.withUnsafeBytes { r in
            #expect(f.value(of: f.field(named: "__syscall_nr")!, in: r) == .signed(257))
            #expect(f.value(of: f.field(named: "dfd")!, in: r) == .signed(-100))
            #expect(f.value(of: f.field(named: "filename")!, in: r) == .pointer(0x7ffd_1234))
        }
    }

    @Test func parsesArraysAndDataLoc() {
        let comm = TracepointFormat.field("char prev_comm[16]", offset: 8, size: 16, signed: false, common: false)
        #expect(comm.name == "prev_comm" && comm.arrayLength == 16 && comm.isCharArray)
        let loc = TracepointFormat.field("__data_loc char[] name", offset: 8, size: 4, signed: false, common: false)
        #expect(loc.name == "name" && loc.isDataLoc && loc.isCharArray)
    }

    @Test func log2HistogramInBCCLayout() {
        var slots = [UInt64](repeating: 0, count: 26)
        slots[0] = 1; slots[2] = 10; slots[3] = 20; slots[4] = 5
        let text = Log2Histogram(unit: "usecs", slots: slots).formatted()
        let expected = """
             usecs               : count     distribution
                 0 -> 1          : 1        |**                                      |
                 2 -> 3          : 0        |                                        |
                 4 -> 7          : 10       |********************                    |
                 8 -> 15         : 20       |****************************************|
                16 -> 31         : 5        |**********                              |

        """
        #expect(text == expected)
        #expect(Log2Histogram(unit: "usecs", slots: [0, 0]).formatted() == "")
    }

    @Test func log2HistogramWideAbove32Slots() {
        var slots = [UInt64](repeating: 0, count: 40)
        slots[35] = 3
        let lines = Log2Histogram(unit: "nsecs", slots: slots).formatted().split(separator: "\n")
        #expect(lines[0] == "               nsecs                         : count     distribution")
        #expect(lines.count == 37)
        #expect(lines[36].hasSuffix(": 3        |********************|"))
    }

    @Test func linearHistogramInBCCLayout() {
        let text = LinearHistogram(unit: "msecs", start: 0, step: 1, slots: [2, 4]).formatted()
        #expect(text == """
             msecs         : count     distribution
                0      : 2        |********************                    |
                1      : 4        |****************************************|

        """)
    }

    @Test func histogramJSONHasBuckets() throws {
        let json = String(decoding: try JSONEncoder().encode(Log2Histogram(unit: "usecs", slots: [0, 3, 0, 1, 0])), as: UTF8.self)
        #expect(json.contains("\"unit\":\"usecs\""))
        #expect(json.contains("{\"count\":3,\"high\":3,\"low\":2}") || json.contains("\"low\":2"))
        #expect(json.contains("\"total\":4"))
    }

    @Test func readsELFSymbolsAndOffsets() throws {
        // libc: a shared library with .dynsym and PT_LOAD segments.
        let libc = try BinaryLocator.locate("c")
        #expect(libc.contains("libc.so"))
        let elf = try ELFFile(path: libc)
        #expect(elf.fileType == 3)
        let getpid = try #require(elf.symbols(named: "getpid").first)
        let offset = try elf.fileOffset(ofSymbol: "getpid")
        #expect(offset == (elf.fileOffset(ofAddress: getpid.address) ?? 0))
        #expect(elf.symbolize(getpid.address + 1)?.0.name.hasPrefix("getpid") == true || elf.symbolize(getpid.address + 1) != nil)
        #expect(throws: BPFError.self) { try elf.fileOffset(ofSymbol: "no_such_function_netbpf") }
        #expect(throws: BPFError.self) { try ELFFile(path: "/etc/hostname") }
    }

    @Test func kernelSymbolsBinarySearch() throws {
        let path = NSTemporaryDirectory() + "kallsyms-\(getpid())"
        try """
        ffffffff81000300 T third
        ffffffff81000000 T first
        ffffffff81000100 t second
        ffffffff81000200 D data_not_text
        ffffffffc0000000 t modfunc\t[veth]
        """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let k = try KernelSymbols(path: path)
        #expect(k.symbols.map(\.name) == ["first", "second", "third", "modfunc"])
        #expect(k.describe(0xffffffff81000105) == "second+0x5")
        #expect(k.describe(0xffffffff81000000, offset: false) == "first")
        #expect(k.describe(0xffffffffc0000010) == "modfunc+0x10 [veth]")
        #expect(k.describe(0x1000) == "[unknown]")
        #expect(k.names(matching: "s*") == ["second"])
    }

    @Test func traceFilterParsesAndMatches() throws {
        let fields = ["sig", "pid", "comm"]
        let f = try Trace.Filter(parsing: "sig == 9 || sig == SIGTERM && comm ~ ba", fields: fields)
        func event(_ sig: Int64, _ comm: String) -> Trace.Event {
            Trace.Event(timestampNs: 0, pid: 1, tid: 1, cpu: 0, comm: comm, tracepoint: "syscalls:sys_enter_kill",
                        fields: [.init(name: "sig", value: .signed(sig))])
        }
        #expect(f.matches(event(9, "x")))
        #expect(f.matches(event(15, "bash")))
        #expect(!f.matches(event(15, "zsh")))
        #expect(!f.matches(event(2, "bash")))
        #expect(throws: BPFError.self) { try Trace.Filter(parsing: "nosuch == 1", fields: fields) }
        #expect(throws: BPFError.self) { try Trace.Filter(parsing: "sig 9", fields: fields) }
        #expect(throws: BPFError.self) { try Trace.Filter(parsing: "sig == 9 &&", fields: fields) }
    }

    @Test func funccountPatterns() throws {
        let t = try Funccount.Pattern(parsing: "t:syscalls:sys_enter_open*")
        #expect(t.kind == .tracepoint && t.name == "syscalls:sys_enter_open*")
        let u = try Funccount.Pattern(parsing: "u:c:malloc")
        #expect(u.kind == .uprobe && u.library == "c" && u.name == "malloc")
        #expect(try Funccount.Pattern(parsing: "tcp_*").kind == .kprobe)
        #expect(try Funccount.Pattern(parsing: "k:vfs_read").name == "vfs_read")
        #expect(throws: BPFError.self) { try Funccount.Pattern(parsing: "t:sched") }
        #expect(throws: BPFError.self) { try Funccount.Pattern(parsing: "x:a:b") }
    }

    @Test func smallParsers() throws {
        #expect(CPUs.parseList("0-2,4\n") == [0, 1, 2, 4])
        #expect(SignalNames.number("KILL") == 9 && SignalNames.number("SIGTERM") == 15 && SignalNames.number("10") == 10)
        #expect(SignalNames.name(9) == "SIGKILL")
        #expect(try parsePorts("80, 443") == [80, 443])
        #expect(throws: BPFError.self) { try parsePorts("http") }
        #expect(Syscount.name(ofSyscall: 0) == "read" && Syscount.name(ofSyscall: 257) == "openat")
        #expect(Syscount.errnoValue("ENOENT") == 2)
        #expect(fixed(97.65625, 2) == "97.66" && fixed(0.0004, 3) == "0.000")
        #expect(TCPState.name(1) == "ESTABLISHED" && TCPState.name(7) == "CLOSE")
    }

    @Test func stackFormatterLayout() {
        let lines = StackFormatter.lines(kernel: [1, 2], user: [3], kernelSymbols: nil, userSymbols: nil)
        #expect(lines == ["  [unknown]", "  [unknown]", "  -", "  [unknown]"])
        #expect(StackFormatter.entry(frames: ["  f"], comm: "cat", pid: 7, count: 3) == "  f\n    cat [7]\n    3\n")
    }
}
