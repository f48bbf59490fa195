import NetBPFCLI

import NetBPF

StandardStreams.ignoreSIGPIPE()
NetBPFCommand.run(arguments: Array(CommandLine.arguments.dropFirst()))
