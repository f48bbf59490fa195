import NetBPFCLI

import NetBPF

StandardStreams.ignoreSIGPIPE()
ProcessExit.install()
let arguments = EarlyStart.normalized(CommandLine.arguments)
EarlyStart.begin(arguments: arguments)
// NetBPFCommand.main(), with what EarlyStart began settled before any exit. (ArgumentParser's
// main() also runs AsyncParsableCommands; netbpf has none.)
do {
    var command = try NetBPFCommand.parseAsRoot(Array(arguments.dropFirst()))
    try command.run()
    EarlyStart.abandon()
} catch {
    EarlyStart.abandon()
    NetBPFCommand.exit(withError: error)
}
