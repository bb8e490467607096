// TEMPORARY: the parser's API as agreed; replaced by the parser's own files on merge.
import KilnSystem

package struct NinjaManifest: Sendable {
  package var edges: [NinjaEdge] = []
  package var defaults: [String] = []
  package var pools: [String: Int] = [:]
  package var bindings: [String: String] = [:]
  package init() {}
}
package struct NinjaEdge: Sendable {
  package var rule: String
  package var outputs: [String] = []
  package var implicitOutputs: [String] = []
  package var inputs: [String] = []
  package var implicitInputs: [String] = []
  package var orderOnly: [String] = []
  package var validations: [String] = []
  package var command: String = ""
  package var description: String?
  package var depfile: String?
  package var deps: String?
  package var msvcDepsPrefix: String?
  package var restat = false
  package var generator = false
  package var pool: String?
  package var rspfile: String?
  package var rspfileContent: String?
  package var dyndep: String?
  package var file: String = "build.ninja"
  package var line: Int = 0
  package init(rule: String) { self.rule = rule }
}
package struct NinjaError: Error, Sendable, CustomStringConvertible {
  package var file: String
  package var line: Int
  package var message: String
  package init(file: String, line: Int, message: String) {
    self.file = file
    self.line = line
    self.message = message
  }
  package var description: String { "\(file):\(line): \(message)" }
}
package struct NinjaParser {
  package init(fileSystem: any FileSystem, directory: String) {}
  package func parse(_ file: String = "build.ninja") throws(NinjaError) -> NinjaManifest { NinjaManifest() }
}
