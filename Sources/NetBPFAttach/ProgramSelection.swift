import NetBPF

/// Picks the program to attach from a loaded object: by name, by section, or the first one of a
/// type the hook takes, with errors that say what the object has.
public enum ProgramSelection {
    /// The program named `name` and/or in `section`, or without either the first program whose
    /// type is in `types`.
    /// - Parameters:
    ///   - hook: the hook's name for messages ("tc", "xdp", "socket").
    ///   - types: the program types the hook runs.
    /// - Throws: `AttachError(.notFound)` when no program has that name or section,
    ///   `.wrongProgram` when the chosen one (or every one) has a type the hook does not run;
    ///   each hint lists the object's programs.
    public static func select(from object: BPFObject, name: String?, section: String?, hook: String,
                              accepts types: [ProgramType]) throws -> BPFProgram {
        let programs = object.programs
        let listing = programs.map { "\($0.name) (SEC(\"\($0.section)\"), \($0.type))" }.joined(separator: ", ")
        var candidates = programs
        if let name {
            candidates = candidates.filter { $0.name == name }
            guard !candidates.isEmpty else { throw AttachError(.notFound, "no program named '\(name)' in \(object.name)", hint: "programs here: \(listing)") }
        }
        if let section {
            candidates = candidates.filter { $0.section == section }
            guard !candidates.isEmpty else { throw AttachError(.notFound, "no program in section '\(section)' in \(object.name)", hint: "programs here: \(listing)") }
        }
        if name == nil && section == nil {
            guard let first = candidates.first(where: { types.contains($0.type) }) else {
                throw AttachError(.wrongProgram, "\(object.name) has no program a \(hook) hook can run (it needs \(types.map(\.description).joined(separator: " or ")))",
                                  hint: "programs here: \(listing)")
            }
            return first
        }
        let chosen = candidates[0]
        guard types.contains(chosen.type) else {
            throw AttachError(.wrongProgram, "program '\(chosen.name)' is \(chosen.type); a \(hook) hook runs \(types.map(\.description).joined(separator: " or ")) programs",
                              hint: hook.hasPrefix("tc") ? "put it in SEC(\"tc\")" : hook == "xdp" ? "put it in SEC(\"xdp\")" : "put it in SEC(\"socket\")")
        }
        return chosen
    }
}
