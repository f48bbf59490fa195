internal import CMnl

/// Names for the rtnetlink message types this module sends and receives, used as the
/// `operation` of every `NetlinkError` ("RTM_NEWTFILTER").
enum NetlinkMessageType {
    static let names: [Int: String] = [
        Int(NLMSG_NOOP): "NLMSG_NOOP", Int(NLMSG_ERROR): "NLMSG_ERROR", Int(NLMSG_DONE): "NLMSG_DONE",
        Int(RTM_NEWLINK): "RTM_NEWLINK", Int(RTM_DELLINK): "RTM_DELLINK", Int(RTM_GETLINK): "RTM_GETLINK",
        Int(RTM_SETLINK): "RTM_SETLINK",
        Int(RTM_NEWADDR): "RTM_NEWADDR", Int(RTM_DELADDR): "RTM_DELADDR", Int(RTM_GETADDR): "RTM_GETADDR",
        Int(RTM_NEWROUTE): "RTM_NEWROUTE", Int(RTM_DELROUTE): "RTM_DELROUTE", Int(RTM_GETROUTE): "RTM_GETROUTE",
        Int(RTM_NEWNEIGH): "RTM_NEWNEIGH", Int(RTM_DELNEIGH): "RTM_DELNEIGH", Int(RTM_GETNEIGH): "RTM_GETNEIGH",
        Int(RTM_NEWQDISC): "RTM_NEWQDISC", Int(RTM_DELQDISC): "RTM_DELQDISC", Int(RTM_GETQDISC): "RTM_GETQDISC",
        Int(RTM_NEWTCLASS): "RTM_NEWTCLASS", Int(RTM_DELTCLASS): "RTM_DELTCLASS", Int(RTM_GETTCLASS): "RTM_GETTCLASS",
        Int(RTM_NEWTFILTER): "RTM_NEWTFILTER", Int(RTM_DELTFILTER): "RTM_DELTFILTER",
        Int(RTM_GETTFILTER): "RTM_GETTFILTER",
        Int(RTM_NEWACTION): "RTM_NEWACTION", Int(RTM_DELACTION): "RTM_DELACTION", Int(RTM_GETACTION): "RTM_GETACTION",
    ]

    static func name(_ type: UInt16) -> String { names[Int(type)] ?? "netlink message \(type)" }
}
