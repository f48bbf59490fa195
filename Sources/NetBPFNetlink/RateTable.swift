import Foundation
import Glibc

/// The packet scheduler's clock and iproute2's rate arithmetic (tc/tc_core.c), so HTB and TBF
/// parameters come out exactly as `tc` computes them: transmit times in scheduler ticks, and
/// the 256-slot rate tables (TCA_HTB_RTAB/CTAB, TCA_TBF_RTAB) that kernels still require in
/// the request although they stopped using them for lookups in 3.8.
/// /proc/net/psched holds four hex words: t2us, us2t, clock resolution, and hz.
package struct PacketSchedulerClock: Sendable, Equatable {
    /// Scheduler ticks per microsecond (iproute2's tick_in_usec).
    package var ticksPerMicrosecond: Double
    /// iproute2's get_hz(): the 4th field when the 3rd is 1000000, else 100.
    package var hz: UInt64

    package init(t2us: UInt32, us2t: UInt32, clockResolution: UInt32, hz: UInt32) {
        var t2us = t2us
        // iproute2's compatibility hack: nanosecond resolution advertises a multiplier of 1000.
        if clockResolution == 1_000_000_000 { t2us = us2t }
        let clockFactor = Double(clockResolution) / 1_000_000
        ticksPerMicrosecond = Double(t2us) / Double(us2t) * clockFactor
        self.hz = clockResolution == 1_000_000 && hz != 0 ? UInt64(hz) : 100
    }

    /// What every kernel since 2.6.31 with high-resolution timers reports:
    /// "000003e8 00000040 000f4240 3b9aca00".
    package static let highResolution = PacketSchedulerClock(t2us: 1000, us2t: 64, clockResolution: 1_000_000, hz: 1_000_000_000)

    /// Read from /proc/net/psched, falling back to `highResolution`.
    package static let system: PacketSchedulerClock = {
        guard let f = fopen("/proc/net/psched", "r") else { return .highResolution }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 128)
        guard fgets(&line, Int32(line.count), f) != nil else { return .highResolution }
        let words = String(cString: line).split(separator: " ").compactMap { UInt32($0.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) }
        guard words.count == 4 else { return .highResolution }
        return PacketSchedulerClock(t2us: words[0], us2t: words[1], clockResolution: words[2], hz: words[3])
    }()

    /// tc_calc_xmittime: ticks to send `size` bytes at `rate` bytes/s. Same truncations as C:
    /// microseconds to unsigned int first, then times ticks-per-µs to unsigned int.
    package func transmitTime(rate: UInt64, size: UInt32) -> UInt32 {
        guard rate > 0 else { return 0 }
        let micros = Self.clampToUInt32(1_000_000 * (Double(size) / Double(rate)))
        return Self.clampToUInt32(Double(micros) * ticksPerMicrosecond)
    }

    /// tc_calc_rtable for Ethernet (no ATM cell alignment): the cell log that fits `mtu` (2047
    /// when 0) in 256 slots, and the transmit time of each slot's size at the (32-bit) rate.
    package func rateTable(rate: UInt32, mtu: UInt32, mpu: UInt32 = 0) -> (cellLog: UInt8, table: [UInt32]) {
        let mtu = mtu == 0 ? 2047 : mtu
        var cellLog: UInt32 = 0
        while (mtu >> cellLog) > 255 { cellLog += 1 }
        let table = (0..<256).map { i -> UInt32 in
            let size = max(UInt32(i + 1) << cellLog, mpu)
            return transmitTime(rate: UInt64(rate), size: size)
        }
        return (UInt8(cellLog), table)
    }

    private static func clampToUInt32(_ d: Double) -> UInt32 {
        if !(d > 0) { return 0 }
        if d >= 4_294_967_295 { return UInt32.max }
        return UInt32(d)
    }
}
