import Glibc

/// Seconds on CLOCK_MONOTONIC. Rates divide by the time measured between two readings with it:
/// a nominal interval is wrong after the process was stopped (SIGSTOP/SIGCONT, a debugger, a
/// loaded machine), and the wall clock jumps with NTP and `date -s`.
package enum MonotonicClock {
    /// Seconds from an arbitrary start; only differences between readings mean anything.
    package static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// The per-second rate of a counter read twice.
package enum CounterRate {
    /// `(after - before) / seconds`, with wrapping subtraction (a counter that wrapped still
    /// gives its true difference); 0 when no time passed.
    package static func perSecond(from before: UInt64, to after: UInt64, seconds: Double) -> Double {
        guard seconds > 0 else { return 0 }
        return Double(after &- before) / seconds
    }
}
