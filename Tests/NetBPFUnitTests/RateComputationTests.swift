import Testing
import NetBPF
@testable import NetBPFCLI
@testable import NetBPFControllers

/// Rates divide by the time measured between two readings, not the nominal interval: after a
/// SIGSTOP of 10 s, 10 s of traffic is not reported as one second's.
struct RateComputationTests {
    @Test func counterRateUsesTheMeasuredTime() {
        #expect(CounterRate.perSecond(from: 1000, to: 11_000, seconds: 10) == 1000)
        #expect(CounterRate.perSecond(from: UInt64.max - 9, to: 10, seconds: 2) == 10) // wrapped
        #expect(CounterRate.perSecond(from: 5, to: 9, seconds: 0) == 0)
        let t0 = MonotonicClock.seconds()
        #expect(MonotonicClock.seconds() >= t0)
    }

    static func entry(passed: UInt64, dropped: UInt64) -> RateLimiter.Entry {
        RateLimiter.Entry(prefix: "10.0.0.2/32", rateBitsPerSecond: 8_000_000, burstBytes: 50_000, id: 3,
                          passedPackets: 0, passedBytes: passed, droppedPackets: dropped, droppedBytes: 0)
    }

    /// `ratelimit list --interval 1` / `ratelimit run` stopped for 9 s during the sleep: the
    /// reads were 10 s apart.
    @Test func rateLimiterRatesAfterAStop() {
        let rates = RateLimiter.rates(before: [Self.entry(passed: 0, dropped: 0)],
                                      after: [Self.entry(passed: 10_000_000, dropped: 5_000)], seconds: 10)
        #expect(rates.count == 1)
        #expect(rates[0].passedBitsPerSecond == 8_000_000) // 1 MB/s, not 8 MB/s as over the nominal second
        #expect(rates[0].droppedPacketsPerSecond == 500)
        // An entry added between the readings starts at rate 0.
        let new = RateLimiter.rates(before: [], after: [Self.entry(passed: 99, dropped: 1)], seconds: 1)
        #expect(new[0].passedBitsPerSecond == 0 && new[0].droppedPacketsPerSecond == 0)
    }

    @Test func xdpRatesAfterAStop() {
        let rates = XDPExample.rates(from: [1: 100, 17: 50_000], to: [1: 100, 6: 30, 17: 150_000], seconds: 10)
        #expect(rates.map(\.0) == [6, 17]) // only what grew, by protocol number
        #expect(rates.map(\.1) == [3, 10_000])
    }

    @Test func xdpReportsKeepTheirCadenceButDoNotCatchUp() {
        // On time: one interval after the last due time.
        #expect(XDPExample.nextReport(after: 100, readAt: 100.01, interval: 1) == 101)
        // Stopped for 10 s: the next report is an interval from now, not nine at once.
        #expect(XDPExample.nextReport(after: 100, readAt: 110.5, interval: 1) == 111.5)
    }
}
