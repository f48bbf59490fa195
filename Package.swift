// swift-tools-version:6.0
// netbpf: BPF networking on Linux, in Swift, on libbpf + libmnl.
import PackageDescription

let package = Package(
    name: "netbpf",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "NetBPF", targets: ["NetBPF"]),
        .library(name: "NetBPFNetlink", targets: ["NetBPFNetlink"]),
        .executable(name: "netbpf", targets: ["netbpf"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries (Debian: libbpf-dev, libmnl-dev, libpcap-dev), nothing else.
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        // C helpers for what Swift cannot call directly (varargs print callback, LIBBPF_OPTS, raw bpf(2)).
        .target(name: "CNetBPFShims", dependencies: ["CLibBPF"]),
        // The loader: objects, programs, maps, links, buffers, probes, introspection.
        .target(name: "NetBPF", dependencies: ["CLibBPF", "CNetBPFShims"]),
        // rtnetlink over libmnl: namespaces, links, addresses, routes, qdiscs/classes/filters, XDP, extack errors.
        .target(name: "NetBPFNetlink", dependencies: ["CMnl", "CNetBPFShims"]),
        // Argument parsing and output formatting only.
        .target(name: "NetBPFCLI", dependencies: [
            "NetBPF",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "netbpf", dependencies: ["NetBPFCLI"]),
        // Helpers shared by the test targets: BPF C builds, fd-leak checks, capability traits.
        .target(name: "NetBPFTestSupport", dependencies: ["NetBPF"]),
        // Pure-logic tests: no root, no kernel state.
        .testTarget(name: "NetBPFUnitTests", dependencies: ["NetBPF", "NetBPFCLI", "NetBPFNetlink", "NetBPFTestSupport"]),
        // Tests against the real kernel: root, bpffs, namespaces.
        .testTarget(name: "NetBPFKernelTests", dependencies: ["NetBPF", "NetBPFNetlink", "NetBPFTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
