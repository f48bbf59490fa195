import ArgumentParser
import Foundation
import Glibc
import NetBPF

/// `netbpf demo syscalls`: load a tracepoint program, watch its map fill, clean up.
struct SyscallsDemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "syscalls", abstract: "Count system calls per command for a few seconds (a tracepoint program).")

    @Option(help: "The demo program: BPF C (compiled in-process) or an object.") var program: String = "programs/demo_syscalls.bpf.c"
    @OptionGroup var compile: CompileArguments
    @Option(help: "Seconds to run.") var seconds: Int = 3
    @Option(help: "Rows to show each second.") var top: Int = 5

    func run() throws {
        try reportingErrors {
            print("compiling and loading \(program)")
            let loaded = try ProgramInput.open(program, compile: compile).load()
            let program = try loaded.program(named: "count_syscalls")
            let link = try program.attach()
            let info = try program.info()
            print("attached program \(info.id) '\(info.name)' to \(link.attachPoint) (tag \(info.tag))")
            let calls = try HashMap<CommKey, UInt64>(loaded.map(named: "calls"))
            for second in 1...max(seconds, 1) {
                sleep(1)
                let rows = try calls.entries().sorted { $0.value > $1.value }.prefix(top)
                let total = try calls.entries().reduce(0) { $0 + $1.value }
                print("after \(second)s: \(total) system calls; top commands:")
                for row in rows { print("  \(row.key.name.padded(16)) \(row.value)") }
            }
            try link.detach()
            print("detached; the map and program are released when netbpf exits")
        }
    }
}

/// The demo map's key: a NUL-padded command name (struct comm_key in programs/demo_syscalls.bpf.c).
struct CommKey: BitwiseCopyable {
    var bytes: (UInt64, UInt64) = (0, 0)
    var name: String {
        withUnsafeBytes(of: bytes) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
}
