import ArgumentParser
import NetBPF

/// `netbpf features`: what this kernel can do, probed (not guessed from its version).
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "features", abstract: "Probe what BPF features this kernel offers.")

    @OptionGroup var output: OutputOptions
    @Flag(help: "Skip the helper probes (faster).")
    var noHelpers = false

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            let groups = Features.shared.all(includeHelpers: !noHelpers)
            if output.json {
                struct Group: Encodable { let group: String; let features: [Feature] }
                try printJSON(groups.map { Group(group: $0.group, features: $0.features) })
                return
            }
            for (group, features) in groups {
                print("\(group):")
                for f in features {
                    print("  \(f.available ? "yes" : "no ")  \(f.name.padded(36)) \(f.detail)")
                }
            }
        }
    }
}
