import NetBPFCLI

import NetBPF

StandardStreams.ignoreSIGPIPE()
ProcessExit.install()
NetBPFCommand.main(NetBPFCommand.normalizedArguments(Array(CommandLine.arguments.dropFirst())))
