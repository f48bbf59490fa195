import CLibBPF
import CNetBPFShims
import Glibc

/// A program loaded into the kernel. Keeps its object alive.
/// `@unchecked Sendable` only because libbpf's `struct bpf_program *` is a C pointer: every field
/// is immutable, and a loaded program's libbpf state is only read.
public final class BPFProgram: @unchecked Sendable {
    let object: ObjectHandle?
    package let pointer: OpaquePointer?
    private let ownedFD: OwnedFD?
    /// The kernel's info, read once when the program was opened by id or pin (it has no libbpf
    /// object to ask), so `name` and `type` never have to guess.
    private let openedInfo: ProgramInfo?

    init(object: ObjectHandle, pointer: OpaquePointer) {
        self.object = object
        self.pointer = pointer
        self.ownedFD = nil
        self.openedInfo = nil
    }

    /// Wraps a program fd obtained by id or from a pin; reads its info (bpf_obj_get_info_by_fd).
    init(fd: OwnedFD) throws {
        self.object = nil
        self.pointer = nil
        self.ownedFD = fd
        self.openedInfo = try ProgramInfo(fd: fd.rawValue)
    }

    /// The program's fd; valid while this object lives.
    public var fd: Int32 { ownedFD?.rawValue ?? bpf_program__fd(pointer) }

    /// The C function's name; for a program opened by id or pin, the kernel's (at most 15 bytes).
    public var name: String {
        if let pointer { return String(cString: bpf_program__name(pointer)) }
        return openedInfo?.name ?? ""
    }

    /// The ELF section it came from ("" for programs opened by id or pin).
    public var section: String { pointer.map { String(cString: bpf_program__section_name($0)) } ?? "" }

    /// The program type.
    public var type: ProgramType {
        if let pointer { return ProgramType(rawValue: bpf_program__type(pointer).rawValue) }
        return openedInfo?.type ?? ProgramType(rawValue: 0)
    }

    /// The attach type it was loaded for (0 for programs opened by id or pin, which do not say).
    public var expectedAttachType: AttachType {
        pointer.map { AttachType(rawValue: bpf_program__expected_attach_type($0).rawValue) } ?? AttachType(rawValue: 0)
    }

    /// The kernel's view: id, tag, sizes, map ids (bpf_obj_get_info_by_fd).
    public func info() throws -> ProgramInfo { try ProgramInfo(fd: fd) }

    /// The verifier log of a successful load, when a log level was set on the spec.
    public var verifierLog: String? {
        guard let object else { return nil }
        return LibbpfOutput.verifierLog(in: object.loadLog, program: name)
    }

    /// Opens a program pinned in bpffs (bpf_obj_get: BPF_OBJ_GET, 4.4).
    /// - Throws: `BPFError(.notFound)` when nothing is pinned at `path`, `.invalidArgument` when
    ///   the pinned object is not a program.
    public static func open(pinned path: String) throws -> BPFProgram {
        let fd = bpf_obj_get(path)
        guard fd >= 0 else { throw BPFError.system("open pinned program", subject: path, errno: errno) }
        let owned = OwnedFD(owning: fd)
        try FDKind.require(.program, fd: fd, path: path)
        return try BPFProgram(fd: owned)
    }

    /// Opens a loaded program by its id (bpf_prog_get_fd_by_id: BPF_PROG_GET_FD_BY_ID, 4.13;
    /// needs CAP_SYS_ADMIN).
    /// - Throws: `BPFError(.notFound)` when no program has that id.
    public static func open(id: UInt32) throws -> BPFProgram {
        let fd = bpf_prog_get_fd_by_id(id)
        guard fd >= 0 else { throw BPFError.system("open program", subject: "id \(id)", errno: errno) }
        return try BPFProgram(fd: OwnedFD(owning: fd))
    }

    /// Pins the program in bpffs so it outlives this process (BPF_OBJ_PIN, 4.4), creating the
    /// parent directories.
    /// - Throws: `BPFError(.invalidArgument)` for a relative path or one off bpffs; EEXIST when
    ///   something is pinned there already.
    public func pin(at path: String) throws {
        try Pinning.prepareParent(of: path)
        if bpf_obj_pin(fd, path) != 0 { throw BPFError.system("pin program", subject: path, errno: errno) }
    }

    /// Runs the program once (or `repeat` times) on `data` in the kernel (BPF_PROG_TEST_RUN, 4.12).
    /// - Parameters:
    ///   - data: the packet (or other input) the program sees.
    ///   - context: the context struct to pass in (`struct __sk_buff` for tc), or nil.
    ///   - count: repetitions; the result's duration is their mean.
    ///   - dataOutCapacity: room for the packet as the program leaves it (default: 256 bytes more than `data`).
    ///   - contextOutCapacity: room for the context afterwards; 0 to not read it back.
    /// - Throws: `BPFError` with the errno; EINVAL/ENOTSUPP for program types without test-run.
    public func testRun(data: [UInt8], context: [UInt8]? = nil, repeat count: Int = 1,
                        dataOutCapacity: Int? = nil, contextOutCapacity: Int = 0) throws -> TestRunResult {
        var outCapacity = UInt32(dataOutCapacity ?? max(data.count + 256, 64))
        var dataOut = [UInt8](repeating: 0, count: Int(outCapacity))
        let ctxOutSize = UInt32(contextOutCapacity)
        var ctxOut = [UInt8](repeating: 0, count: max(contextOutCapacity, 1))
        var retval: UInt32 = 0, duration: UInt32 = 0
        let ctxOutSizePointer = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
        defer { ctxOutSizePointer.deallocate() }
        ctxOutSizePointer.pointee = ctxOutSize
        let err: Int32 = data.withUnsafeBytes { din in
            dataOut.withUnsafeMutableBytes { dout in
                ctxOut.withUnsafeMutableBytes { cout in
                    let ctxIn = context ?? []
                    return ctxIn.withUnsafeBytes { cin in
                        nb_prog_test_run(fd, din.baseAddress, UInt32(din.count), dout.baseAddress, &outCapacity,
                                         context == nil ? nil : cin.baseAddress, UInt32(cin.count),
                                         contextOutCapacity > 0 ? cout.baseAddress : nil,
                                         contextOutCapacity > 0 ? ctxOutSizePointer : nil,
                                         Int32(count), 0, &retval, &duration)
                    }
                }
            }
        }
        if err != 0 {
            var hint: String?
            if -err == ENOTSUP || -err == 524 || -err == EINVAL {
                hint = "test-run supports socket, tc, XDP, raw_tracepoint and a few other program types; \(type) may not be one"
            }
            throw BPFError.system("BPF_PROG_TEST_RUN", subject: name, errno: err, hint: hint)
        }
        return TestRunResult(returnValue: retval, durationNanoseconds: duration,
                             dataOut: Array(dataOut.prefix(Int(outCapacity))),
                             contextOut: contextOutCapacity > 0 ? Array(ctxOut.prefix(Int(ctxOutSizePointer.pointee))) : [])
    }
}

extension BPFProgram {
    /// Runs this XDP program `count` times on copies of `frame` in live-frames mode
    /// (BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18): each frame is really
    /// acted on as if it had arrived on `ifindex` (in the calling thread's network namespace):
    /// XDP_PASS hands it to that interface's receive path, XDP_TX sends it out of it, XDP_DROP
    /// frees it. `batchSize` frames (1...256; 0 = the kernel's 64) are run, then delivered together.
    /// - Returns: the kernel's mean time per frame in nanoseconds.
    /// - Throws: `BPFError` with the errno: ENODEV for an ifindex the namespace does not have,
    ///   EINVAL for a kernel before 5.18 or a program that is not XDP, E2BIG for a batch over 256.
    public func testRunLive(frame: [UInt8], ifindex: Int32, count: UInt32, batchSize: UInt32 = 0) throws -> UInt32 {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
        // The kernel wants data_end == the frame's length and data/data_meta 0.
        let context: [UInt32] = [0, UInt32(frame.count), 0, UInt32(bitPattern: ifindex), 0, 0]
        var duration: UInt32 = 0
        let err = frame.withUnsafeBytes { din in
            context.withUnsafeBytes { cin in
                nb_prog_test_run_live(fd, din.baseAddress, UInt32(din.count), cin.baseAddress, UInt32(cin.count),
                                      count, batchSize, &duration)
            }
        }
        if err != 0 {
            var hint: String?
            switch -err {
            case EPERM where geteuid() == 0:
                hint = "this kernel refuses live frames (as this project's 6.18 VMs do); a tc generator that sends with bpf_clone_redirect works without them (programs/tc_udp_gen.bpf.c)"
            case ENODEV: hint = "no interface with ifindex \(ifindex) in this network namespace"
            case EINVAL where type != .xdp: hint = "live frames need an XDP program; \(name) is \(type)"
            case EINVAL: hint = "live frames need Linux 5.18 (BPF_F_TEST_XDP_LIVE_FRAMES) and a frame of at least 14 bytes that fits a page"
            case E2BIG: hint = "the batch size is at most 256"
            default: break
            }
            throw BPFError.system("BPF_PROG_TEST_RUN (live frames)", subject: name, errno: err, hint: hint)
        }
        return duration
    }
}

/// The outcome of BPF_PROG_TEST_RUN.
public struct TestRunResult: Sendable, Equatable {
    /// The program's return value (for tc: TC_ACT_*, for XDP: XDP_*, for sockets: bytes kept).
    public var returnValue: UInt32
    /// Mean run time per repetition as measured by the kernel.
    public var durationNanoseconds: UInt32
    /// The packet as the program left it.
    public var dataOut: [UInt8]
    /// The context as the program left it; empty unless `contextOutCapacity` was given.
    public var contextOut: [UInt8]
}
