import ArgumentParser
import Dispatch
import Foundation
import Glibc
import Synchronization
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFFleet
import NetBPFNetlink

/// `netbpf agent`: the long-running node agent of a fleet (docs/fleet.md). It adopts the rate
/// limiter already attached to the interface (a restart after SIGKILL finds its pins and
/// record, counters continue) or attaches one, then follows etcd. Controllers may also come
/// from etcd (`netbpf fleet place`): then the command line may name none.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "Run the fleet agent of this node: desired state from etcd, /metrics.")

    @Option(help: "This node's name (letters, digits, - _ .).") var node: String
    @OptionGroup var etcdOptions: EtcdOptions
    @Option(help: "Where /metrics and /status listen (ADDR:PORT, read-only).") var listen = "127.0.0.1:9560"
    @Option(help: "A rate limiter config (docs/ratelimit.md): interface, netns, direction, key, shape; its limits are ignored (etcd's apply).") var config: String?
    @Option(name: .customLong("interface"), help: "The interface to limit (instead of --config).") var interface: String?
    @Option(help: "Its network namespace.") var netns: String?
    @Option(help: "Key on the source or destination address (with --interface).") var keyOn: RateLimiter.KeyOn = .destination
    @Flag(help: "Limit on ingress (with --interface; default egress).") var ingress = false
    @Option(help: "Run HTTP blocking on this interface's ingress (in --netns); the fleet's http/ keys fill its list.") var httpBlockInterface: String?
    @Option(help: "Run VLAN learning with this trunk (in --netns); the fleet's vlan/ keys map clients to --vlan-worker interfaces.") var vlanTrunk: String?
    @Option(help: "A worker interface of VLAN learning (repeat).") var vlanWorker: [String] = []
    @Option(help: "Lease TTL in seconds: how long after the agent dies the fleet sees the node gone.") var ttl = 10
    @Flag(help: "Detach the limiter when the agent stops (default: it keeps enforcing).") var detachOnExit = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            try KeyLayout.checkNodeName(node)
            guard (1...3600).contains(ttl) else { throw ValidationError("--ttl must be 1 to 3600 seconds") }
            var place = (interface: interface, netns: netns, direction: ingress ? TCDirection.ingress : .egress, key: keyOn, shape: false)
            if let config {
                let c = try RateLimitConfig.load(path: config)
                place = (c.interface, c.namespace, c.direction, c.keyOn, c.shape)
            }
            guard (vlanTrunk == nil) == vlanWorker.isEmpty else { throw ValidationError("--vlan-trunk and --vlan-worker go together") }
            // In a simulation the control host writes the PKI while the agents start: wait for it.
            if let dir = etcdOptions.pki { waitForFile(dir + "/" + FleetPKI.user(node: node) + ".password", seconds: 60) }
            let etcd = try etcdOptions.client(defaultUser: FleetPKI.user(node: node))
            var options = FleetAgent.Options(node: node, layout: try etcdOptions.layout())
            options.leaseTTL = ttl
            if let iface = place.interface {
                options.fixed.append(Placement(controller: .ratelimit, interface: iface, netns: place.netns, direction: place.direction, keyOn: place.key))
            }
            if let iface = httpBlockInterface { options.fixed.append(Placement(controller: .httpBlock, interface: iface, netns: netns)) }
            if let trunk = vlanTrunk { options.fixed.append(Placement(controller: .vlanLearning, interface: trunk, netns: netns, workers: vlanWorker)) }

            // Each controller is adopted when netbpf already attached it here (pinned: an agent
            // killed with SIGKILL left it enforcing), else attached. VLAN learning is attached
            // for the process (its programs go when the agent goes; learned VLANs are relearned).
            // VLAN first: it checks its interfaces before attaching, and goes with the process.
            var learner: VLANLearner?
            if let trunk = vlanTrunk {
                var config = VLANLearningConfig(trunk: trunk, namespace: netns, clients: [])
                config.spareWorkers = vlanWorker
                learner = try VLANLearner.start(config)
                StandardStreams.err("netbpf agent \(node): VLAN learning on trunk \(trunk), workers \(vlanWorker.joined(separator: ", "))\n")
            }
            var limiter: RateLimiter?
            var attachedLimiter = false
            if let iface = place.interface {
                if let adopted = try? RateLimiter(interface: iface, namespace: place.netns) {
                    limiter = adopted
                    StandardStreams.err("netbpf agent \(node): adopted the rate limiter on \(adopted.record.place)\n")
                } else {
                    let l = try RateLimiter.attach(interface: iface, namespace: place.netns, direction: place.direction, keyOn: place.key, shape: place.shape)
                    limiter = l
                    attachedLimiter = true
                    StandardStreams.err("netbpf agent \(node): attached a rate limiter to \(l.record.place)\n")
                }
            }
            var blocker: HTTPBlocker?
            if let iface = httpBlockInterface {
                if let adopted = try? HTTPBlocker(interface: iface, namespace: netns) {
                    blocker = adopted
                    StandardStreams.err("netbpf agent \(node): adopted HTTP blocking on \(adopted.record.place)\n")
                } else {
                    let b: HTTPBlocker
                    do { b = try HTTPBlocker.attach(interface: iface, namespace: netns) } catch {
                        if attachedLimiter { try? limiter?.detach() }
                        throw error
                    }
                    blocker = b
                    StandardStreams.err("netbpf agent \(node): attached HTTP blocking to \(b.record.place)\n")
                }
            }
            let agentBox = AgentBox()
            // The controllers are the agent's current ones: placements start and stop them.
            let server = try AgentMetrics.server(listen: listen, node: node,
                                                 health: { agentBox.agent?.health.withLock { $0 } ?? AgentHealth() },
                                                 limits: { (try? (agentBox.agent?.targets.rateLimit as? RateLimiter)?.entries()) ?? [] },
                                                 blocks: { agentBox.agent?.targets.httpBlock.map { (try? $0.listing()) ?? [] } },
                                                 vlan: { try? (agentBox.agent?.targets.vlan as? VLANLearner)?.report() })
            options.metricsURL = server.url + "/metrics"
            let agent = try FleetAgent(etcd: etcd, options: options, targets: NodeTargets(rateLimit: limiter, httpBlock: blocker?.list, vlan: learner),
                                       placements: KernelPlacementHost(node: node))
            agentBox.agent = agent
            server.start()
            StandardStreams.err("netbpf agent \(node): metrics on \(server.url)/metrics, following \(etcd.endpoint)\n")

            let task = Task { await agent.run() }
            signal(SIGINT, SIG_IGN); signal(SIGTERM, SIG_IGN)
            let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
                let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                s.setEventHandler { task.cancel() }
                s.resume()
                return s
            }
            // Lease revoke waits 1 s at most, so --detach-on-exit is done well within the 2 s
            // that sim down gives before SIGKILL.
            try blocking { await task.value }
            learner?.stop()
            // Every step runs even when one fails (a controller left attached is reported, and
            // `netbpf doctor` finds it); the first failure is thrown at the end.
            var firstError: (any Error)?
            let keep = !detachOnExit
            do { try blocking { try await agent.stopPlaced(keepingPinned: keep) } } catch { firstError = firstError ?? error }
            if detachOnExit {
                do { try limiter?.detach() } catch { firstError = firstError ?? error }
                do { try blocker?.detach() } catch { firstError = firstError ?? error }
            }
            sources.forEach { $0.cancel() }
            server.stop()
            try blocking { await etcd.close() }
            if let firstError { throw firstError }
            StandardStreams.err("netbpf agent \(node): stopped" + (detachOnExit ? ", controllers detached" : ", rate limiter and HTTP blocking (placed ones too) keep enforcing") + "\n")
        }
    }
}

/// Waits until `path` exists, up to `seconds`.
func waitForFile(_ path: String, seconds: Double) {
    let deadline = Date().addingTimeInterval(seconds)
    while !FileManager.default.fileExists(atPath: path) && Date() < deadline { usleep(100_000) }
}

/// Lets the metrics handler, made before the agent, read it (set once, before the server starts).
final class AgentBox: Sendable {
    private let value = Mutex<FleetAgent?>(nil)
    var agent: FleetAgent? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
