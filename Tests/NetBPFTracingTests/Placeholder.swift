import Testing
@Test func tracingPlaceholder() {}
