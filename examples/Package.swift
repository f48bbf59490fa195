// swift-tools-version:6.0
// BCC's tutorial programs done the netbpf way: a separate package that uses netbpf only through
// its products, in Swift 6 mode, as any outside tool would. `netbpf` is a link to the checkout.
import PackageDescription

let kit: Target.Dependency = .product(name: "NetBPFKit", package: "netbpf")

let package = Package(
    name: "netbpf-examples",
    dependencies: [.package(path: "netbpf")],
    targets: [
        .executableTarget(name: "hello-world", dependencies: [kit]),
        .executableTarget(name: "sleepsnoop", dependencies: [kit]),
        .executableTarget(name: "bitehist", dependencies: [kit]),
        .executableTarget(name: "tc-counter", dependencies: [kit]),
        .executableTarget(name: "socket-capture", dependencies: [kit]),
        .executableTarget(name: "block-list", dependencies: [kit]),
    ],
    swiftLanguageModes: [.v6]
)
