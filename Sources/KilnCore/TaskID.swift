/// The name of one task instance: the task's name, plus the foreach item for a foreach task.
///
/// Printed as `compile src/a.c` (status line, `kiln tasks`) and stored the same way in
/// the manifest; task names cannot contain spaces, so the form is unambiguous.
package struct TaskID: Hashable, Sendable, Comparable, CustomStringConvertible {
  package var task: String
  package var item: String?

  package init(task: String, item: String? = nil) {
    self.task = task
    self.item = item
  }

  package var description: String {
    if let item { return "\(task) \(item)" }
    return task
  }

  /// Inverse of `description`.
  package init(parsing text: String) {
    // Found among the bytes: a scan of Characters checks grapheme breaks, and every
    // record a build loads is named by one of these.
    if let space = text.utf8.firstIndex(of: UInt8(ascii: " ")) {
      self.init(task: String(text[..<space]), item: String(text[text.index(after: space)...]))
    } else {
      self.init(task: text)
    }
  }

  package static func < (a: TaskID, b: TaskID) -> Bool { a.description < b.description }
}
