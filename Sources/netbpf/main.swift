import NetBPFCLI

import NetBPF

StandardStreams.ignoreSIGPIPE()
ProcessExit.install()
let arguments = EarlyStart.normalized(CommandLine.arguments)
EarlyStart.begin(arguments: arguments)
// Early work no command took is settled at exit (ProcessExit).
NetBPFCommand.main(Array(arguments.dropFirst()))
