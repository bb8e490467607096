import KilnReport
import Testing

@Suite struct StatsReportTests {
  @Test func emptyHistoryHasNoLastBuild() {
    let r = StatsReport(history: [], facts: TaskFacts(), window: 20)
    #expect(r.last == nil)
    #expect(r.total.hitRate == nil)
  }
}
