import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import PortholeGateway

/// The periodic heap trim after connection churn (`MemoryTrimmer`), driven
/// by an EmbeddedEventLoop's clock.
@Suite struct MemoryTrimmerTests {
    @Test func trimsOnlyAfterAPeriodWithConnectionChurn() {
        let loop = EmbeddedEventLoop()
        let churn = NIOLockedValueBox<UInt64>(0)
        let trims = NIOLockedValueBox(0)
        let trimmer = MemoryTrimmer(interval: .seconds(30), trim: { trims.withLockedValue { $0 += 1 }; return true },
                                    perform: { $0() })
        trimmer.start(on: loop, churn: { churn.withLockedValue { $0 } }, logger: Logger(label: "test"))

        loop.advanceTime(by: .seconds(30))
        #expect(trims.withLockedValue { $0 } == 0, "nothing happened: no trim")

        churn.withLockedValue { $0 = 2_000 } // a storm of connections
        loop.advanceTime(by: .seconds(29))
        #expect(trims.withLockedValue { $0 } == 0, "not before the period is over")
        loop.advanceTime(by: .seconds(1))
        #expect(trims.withLockedValue { $0 } == 1)

        loop.advanceTime(by: .seconds(90))
        #expect(trims.withLockedValue { $0 } == 1, "quiet again: no more trims")

        churn.withLockedValue { $0 += 1 } // one connection closed
        loop.advanceTime(by: .seconds(30))
        #expect(trims.withLockedValue { $0 } == 2)

        trimmer.stop()
        churn.withLockedValue { $0 += 1 }
        loop.advanceTime(by: .seconds(60))
        #expect(trims.withLockedValue { $0 } == 2, "stopped")
    }
}
