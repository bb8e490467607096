/// A position in the build file, 1-based, as `kiln.yml:LINE:COL` prints it.
package struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
  package var file: String
  package var line: Int
  package var column: Int

  package init(file: String, line: Int, column: Int) {
    self.file = file
    self.line = line
    self.column = column
  }

  package var description: String { "\(file):\(line):\(column)" }
}

/// A bad build file: where, and what is wrong. The CLI prints `description` and exits 2.
package struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
  package var location: SourceLocation
  package var message: String

  package init(_ location: SourceLocation, _ message: String) {
    self.location = location
    self.message = message
  }

  package var description: String { "\(location): \(message)" }
}
