import NetBPFCLI

import NetBPF

StandardStreams.ignoreSIGPIPE()
ProcessExit.install()
EarlyStart.begin(arguments: CommandLine.arguments)
// NetBPFCommand.main(), with what EarlyStart began settled before any exit.
do {
    var command = try NetBPFCommand.parseAsRoot()
    try command.run()
    EarlyStart.abandon()
} catch {
    EarlyStart.abandon()
    NetBPFCommand.exit(withError: error)
}
