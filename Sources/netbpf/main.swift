import NetBPFCLI

NetBPFCommand.main()
