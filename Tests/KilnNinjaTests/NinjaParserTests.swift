import Testing
@testable import KilnNinja
