import NetBPFCLI

import NetBPF

StandardStreams.ignoreSIGPIPE()
ProcessExit.install()
EarlyTCXReservation.begin(arguments: CommandLine.arguments)
NetBPFCommand.main()
