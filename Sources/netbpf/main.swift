import NetBPFCLI

import NetBPF

StandardStreams.ignoreSIGPIPE()
ProcessExit.install()
NetBPFCommand.run(arguments: Array(CommandLine.arguments.dropFirst()))
