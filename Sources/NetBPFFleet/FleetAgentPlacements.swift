import NetBPFControllers

extension FleetAgent {
    /// Makes the running placed controllers match `wanted` (name -> placement, key): stops
    /// those no longer placed or placed differently (detached when a placement attached them,
    /// `PlacedController.owned`), then starts those not running (adopting a pinned one first).
    /// A placement that cannot start is reported under its key and tried again at the next
    /// apply; the command line's controllers are never stopped. Runs inside `apply`, before
    /// the maps are filled, so a controller placed in a revision gets that revision's limits.
    func reconcile(_ wanted: [String: (Placement, String)], errors: inout [String: String]) {
        guard let host else {
            for (_, (_, key)) in wanted { errors[key] = "this agent does not take placements" }
            return
        }
        for (name, c) in placed.sorted(by: { $0.key < $1.key }) where wanted[name]?.0 != c.placement {
            // Its key is still there but was refused (a bad value, or a second placement of the
            // kind that sorts first): keep what it placed, as a refused limit keeps the last
            // applied one, rather than let a typo take enforcement away.
            if wanted[name] == nil, errors.keys.contains(where: { $0.hasSuffix("placement/" + name) }) { continue }
            do {
                try host.stop(c)
                placed[name] = nil
                log((c.owned ? "detached " : "let go of (not attached by a placement) ") + c.placement.place + " (placement '\(name)' " + (wanted[name] == nil ? "removed)" : "changed)"))
            } catch {
                // Kept: the next apply tries again.
                errors["placement:" + name] = "detach of \(c.placement.place) failed: \(error)"
            }
        }
        for (name, (p, key)) in wanted.sorted(by: { $0.key < $1.key }) where placed[name] == nil {
            if let fixed = options.fixed.first(where: { $0.controller == p.controller }) {
                // Already there from the command line: nothing to start.
                if fixed == p { continue }
                errors[key] = "this node runs its \(p.controller.rawValue) from the agent's command line (\(fixed.place))"
                continue
            }
            if let other = placed.first(where: { $0.value.placement.controller == p.controller }) {
                errors[key] = "\(other.value.placement.place) of placement '\(other.key)' is not detached yet"
                continue
            }
            do {
                let c = try host.start(p)
                placed[name] = c
                log((c.adopted ? "adopted " : "attached ") + p.place + " (placement '\(name)', program \(c.programID))")
            } catch {
                errors[key] = "\(error)"
            }
        }
        if !swept {
            // Once, after the first reconcile: what an earlier agent placed and whose placement
            // went while no agent ran.
            do {
                for place in try host.sweep(keeping: Set(placed.values.map(\.programID))) { log("detached \(place): its placement was removed while no agent ran") }
                swept = true
            } catch {
                errors["placement:sweep"] = "detach of a controller whose placement was removed failed: \(error)"
            }
        }
        refreshTargets()
    }

    /// The controllers the agent's maps are applied to: the command line's, then the placed ones.
    private func refreshTargets() {
        var t = base
        for c in placed.values.sorted(by: { $0.programID < $1.programID }) {
            if t.rateLimit == nil, let r = c.rateLimit { t.rateLimit = r }
            if t.httpBlock == nil, let h = c.httpBlock { t.httpBlock = h }
            if t.vlan == nil, let v = c.vlan { t.vlan = v }
        }
        let now = t
        current.withLock { $0 = now }
    }

    /// Stops the placed controllers when the agent stops: those that last as long as the agent
    /// (VLAN learning) always, the pinned ones (rate limiter, HTTP blocking) only when
    /// `keepingPinned` is false (`--detach-on-exit`). Call after `run()` returned.
    /// - Throws: the first detach error (the others are still tried).
    public func stopPlaced(keepingPinned: Bool) throws {
        var first: Error?
        for (name, c) in placed.sorted(by: { $0.key < $1.key }) where !keepingPinned || c.placement.controller == .vlanLearning {
            do { try host?.stop(c); placed[name] = nil } catch { first = first ?? error }
        }
        refreshTargets()
        if let first { throw first }
    }
}
