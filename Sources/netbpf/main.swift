import NetBPFCLI

import NetBPF

StandardStreams.ignoreSIGPIPE()
NetBPFCommand.main()
