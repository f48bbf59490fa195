import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFControllers

/// `netbpf ratelimit attach|add|del|list|default|detach|run`: per-IP and per-prefix rate limits
/// enforced by a tc program; limits change live through its pinned maps.
struct RateLimitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ratelimit", abstract: "Rate-limit addresses and prefixes in BPF.",
                                                    subcommands: [Attach.self, Add.self, Del.self, List.self, Default.self, Detach.self, Run.self])

    struct Which: ParsableArguments {
        @Option(name: .customLong("interface"), help: "The interface the limiter is attached to (if several are).") var interface: String?
        @Option(help: "Its network namespace.") var netns: String?
        func limiter() throws -> RateLimiter { try RateLimiter(interface: interface, namespace: netns) }
    }

    struct Attach: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "attach", abstract: "Attach the limiter to an interface (limits are added afterwards).")
        @Argument(help: "The interface.") var interface: String
        @Option(help: "The network namespace.") var netns: String?
        @Flag(help: "Limit on ingress (default egress).") var ingress = false
        @Option(help: "Key on the source or destination address.") var key: RateLimiter.KeyOn = .destination
        @Flag(help: "Shape into per-key HTB classes instead of dropping (egress).") var shape = false
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let rl = try RateLimiter.attach(interface: interface, namespace: netns, direction: ingress ? .ingress : .egress, keyOn: key, shape: shape)
                print("rate limiter attached to \(rl.record.place); add limits with: netbpf ratelimit add ADDRESS RATE")
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Set the limit of an address or prefix (live).")
        @Argument(help: "IPv4/IPv6 address or prefix.") var address: String
        @Argument(help: "Rate in tc units: 10mbit, 500kbit, 1gbit.") var rate: String
        @Option(help: "Burst size: 64k, 1m, 1500 (default: 50 ms at the rate, at least 16k).") var burst: String?
        @OptionGroup var which: Which
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let prefix = try AddressPrefix(address)
                let bits = try RateParsing.bitsPerSecond(rate)
                let b = try burst.map { try RateParsing.bytes($0) }
                try which.limiter().add(prefix, rateBitsPerSecond: bits, burstBytes: b)
            }
        }
    }

    struct Del: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "del", abstract: "Remove the limit of an address or prefix (live).")
        @Argument(help: "IPv4/IPv6 address or prefix.") var address: String
        @OptionGroup var which: Which
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) { try which.limiter().remove(try AddressPrefix(address)) }
        }
    }

    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "default", abstract: "Set the limit for addresses without one ('none' removes it).")
        @Argument(help: "Rate, or none.") var rate: String
        @Option(help: "Burst size.") var burst: String?
        @OptionGroup var which: Which
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let bits = rate == "none" ? nil : try RateParsing.bitsPerSecond(rate)
                try which.limiter().setDefault(rateBitsPerSecond: bits, burstBytes: try burst.map { try RateParsing.bytes($0) })
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Limits with their live rate, passed and dropped counters.")
        @Option(help: "Seconds between the two samples of the live rate.") var interval: Double = 1
        @OptionGroup var which: Which
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let rates = try which.limiter().sample(interval: interval)
                if output.json { try printJSON(rates); return }
                printRates(rates)
            }
        }
    }

    struct Detach: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "detach", abstract: "Detach the limiter and forget its limits.")
        @OptionGroup var which: Which
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let rl = try which.limiter()
                try rl.detach()
                print("detached the rate limiter from \(rl.record.place)")
            }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run",
            abstract: "Attach from a YAML config, print live rates each interval, detach on exit.",
            discussion: "The config file format is in docs/ratelimit.md. SIGINT or SIGTERM detach everything the command attached.")
        @Option(help: "The YAML config.") var config: String
        @Option(help: "Seconds between reports.") var interval: Double = 1
        @Option(help: "Stop after this many seconds.") var seconds: Double?
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let cfg = try RateLimitConfig.load(path: config)
                let stop = StopFlag.installed()
                let session = try RateLimitSession.start(cfg)
                defer { session.stop() }
                let deadline = seconds.map { Date().addingTimeInterval($0) }
                // write(2) per report: a closed stdout stops the loop, so the defer detaches.
                let out = ReportWriter(json: output.json)
                while !stop.isSet && !out.closed, deadline.map({ Date() < $0 }) ?? true {
                    let rates = try session.limiter.sample(interval: interval)
                    if output.json {
                        out.write(try jsonText(rates) + "\n")
                    } else {
                        out.write("--- \(formatTime(Date().timeIntervalSince1970))\n" + ratesTable(rates) + "\n")
                    }
                }
                try out.finish("ratelimit run")
            }
        }
    }
}

extension RateLimiter.KeyOn: ExpressibleByArgument {}

func printRates(_ rates: [RateLimiter.LiveRate]) { print(ratesTable(rates)) }

func ratesTable(_ rates: [RateLimiter.LiveRate]) -> String {
    table(["address", "limit", "burst", "rate now", "passed", "dropped", "drops/s"],
                rates.map { r in
                    [r.entry.prefix, RateParsing.describe(bitsPerSecond: Double(r.entry.rateBitsPerSecond)), "\(r.entry.burstBytes)",
                     RateParsing.describe(bitsPerSecond: r.passedBitsPerSecond),
                     "\(r.entry.passedPackets) pkts / \(r.entry.passedBytes) B", "\(r.entry.droppedPackets) pkts", String(format: "%.0f", r.droppedPacketsPerSecond)]
                })
}
