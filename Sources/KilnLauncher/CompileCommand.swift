import KilnSystem

/// A gcc or clang command line read as the launcher reads it: either one cacheable
/// compile of one source (its outputs named by the flags), or the reason it is run
/// directly. Pure: no file is opened here but a response file (`@file`), which the
/// caller reads and passes in expanded.
///
/// What is cacheable is what ccache caches: `-c` (or `-S`) of exactly one source in a
/// known language. Everything else (a link, `-E`, `-M` alone, several sources, output
/// on stdout, flags whose output depends on files kiln does not see or on the moment)
/// is run as it is and counted under its reason.
package struct CompileCommand: Sendable, Hashable {
  /// The arguments after the compiler, `@file`s expanded, as given.
  package var arguments: [String]
  /// The one source, as written on the command line.
  package var source: String
  /// Its language as the compiler treats it; preprocessed sources (`.i`, `.s`) are not
  /// run through the preprocessor again.
  package var language: Language
  /// The object (or `.s` with `-S`), as written or as the compiler names it.
  package var object: String
  /// The depfile `-MD`/`-MMD` write (`-MF`, else the object's name with `.d`).
  package var depfile: String?
  /// `-gsplit-dwarf`'s `.dwo` and `--coverage`/`-ftest-coverage`'s `.gcno`, named after
  /// the object.
  package var splitDwarf: String?
  package var coverageNotes: String?
  /// The arguments for the preprocessor run (`-E`, to stdout): the compile's minus
  /// `-c`/`-S`, `-o FILE` and the depfile flags.
  package var preprocessorArguments: [String]
  /// The arguments as the key takes them: without `-o FILE` when the output's name
  /// cannot change what is written (as ccache leaves it out), so `-o a.o` and
  /// `-o sub/b.o` share an entry; with it when a depfile names the object, a `.dwo` or
  /// `.gcno` is named after it, or the object embeds its own name (`-flto`, profile
  /// counters, recorded switches, `-dumpbase`/`-dumpdir`).
  package var keyArguments: [String]

  package enum Language: String, Sendable {
    case c, cxx, objc, objcxx, assemblerWithCpp
    /// Already preprocessed (`.i`, `.ii`, `.mi`, `.s`): keyed by their own bytes only.
    case preprocessed

    var runsPreprocessor: Bool { self != .preprocessed }
  }

  /// The outputs by role, in a fixed order: a cache entry names roles, never paths
  /// (a restore writes only what this command line names).
  package var outputs: [(role: String, path: String)] {
    var list = [("object", object)]
    if let depfile { list.append(("depfile", depfile)) }
    if let splitDwarf { list.append(("dwo", splitDwarf)) }
    if let coverageNotes { list.append(("gcno", coverageNotes)) }
    return list
  }

  /// Why a command is run directly. (Not an `Error`, and no `Result` of one: each
  /// generic type a launcher call instantiates with a protocol requirement costs a scan
  /// of every conformance in the binary, about 0.04 ms of a 3 ms hit.)
  package struct Uncacheable: Sendable, Hashable, CustomStringConvertible {
    package var reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
  }

  /// Options whose value is the next argument (when not attached).
  static let takesValue: Set<String> = [
    "-o", "-I", "-D", "-U", "-include", "-imacros", "-isystem", "-idirafter", "-iquote", "-iprefix",
    "-iwithprefix", "-iwithprefixbefore", "-isysroot", "--sysroot", "-imultilib", "-MF", "-MT", "-MQ", "-x",
    "-Xpreprocessor", "-Xassembler", "-Xlinker", "-Xclang", "-arch", "-target", "--target", "-L", "-l", "-u",
    "-T", "-z", "-e", "--param", "-dumpbase", "-dumpdir", "-dumpbase-ext", "-A", "-G",
    "-gcc-toolchain", "-isystem-after", "-ivfsoverlay", "-iframework", "-F", "-mllvm", "-Xarch_host",
  ]

  /// Exact flags that make a compile's output unpredictable or depend on files kiln
  /// does not see, with the reason shown in `kiln stats`.
  static let refusedFlags: [String: String] = [
    "-E": "preprocessing only (-E)",
    "-M": "dependencies only (-M)", "-MM": "dependencies only (-MM)",
    "-MG": "missing headers treated as generated (-MG)",
    "-v": "verbose compiler output (-v)", "-###": "driver dry run (-###)",
    "-fstack-usage": "writes a .su file (-fstack-usage)",
    "-fmem-report": "reports memory (-fmem-report)",
    "-wrapper": "runs under a wrapper (-wrapper)",
    "-fmodules": "clang modules (-fmodules)",
    "-fpch-preprocess": "precompiled header (-fpch-preprocess)",
    "-include-pch": "precompiled header (-include-pch)",
    "-march=native": "tuned to this machine's CPU (-march=native)",
    "-mtune=native": "tuned to this machine's CPU (-mtune=native)",
    "-mcpu=native": "tuned to this machine's CPU (-mcpu=native)",
    "-aux-info": "writes prototypes to a file (-aux-info)",
  ]

  /// Flag prefixes refused, with the reason.
  static let refusedPrefixes: [(String, String)] = [
    ("-save-temps", "keeps temporary files (-save-temps)"),
    ("-fprofile-generate", "profile generation (-fprofile-generate)"),
    ("-fprofile-instr-generate", "profile generation (-fprofile-instr-generate)"),
    ("-fprofile-use", "profile data kiln does not see (-fprofile-use)"),
    ("-fprofile-instr-use", "profile data kiln does not see (-fprofile-instr-use)"),
    ("-fprofile-sample-use", "profile data kiln does not see (-fprofile-sample-use)"),
    ("-fauto-profile", "profile data kiln does not see (-fauto-profile)"),
    ("-fplugin", "compiler plugin (-fplugin)"),
    ("-specs", "spec file kiln does not see (-specs)"), ("--specs", "spec file kiln does not see (--specs)"),
    ("-B", "another compiler directory (-B)"),
    ("-fdump-", "writes dump files (-fdump-...)"),
    ("-fcallgraph-info", "writes a .ci file (-fcallgraph-info)"),
    ("-ftime-report", "reports timings (-ftime-report)"),
    ("-ftime-trace", "writes a time trace (-ftime-trace)"),
    ("-fsanitize-blacklist", "sanitizer list kiln does not see"),
    ("-fsanitize-ignorelist", "sanitizer list kiln does not see"),
    ("-fcoverage-mapping", "coverage mapping (-fcoverage-mapping)"),
    ("-fcreate-profile", "profile creation (-fcreate-profile)"),
  ]

  /// The language of a source by its name, or nil when it is not a source (an object,
  /// a library: a link input).
  static func language(ofName name: String) -> Language? {
    guard let dot = name.lastIndex(of: "."), !name[dot...].contains("/") else { return nil }
    switch String(name[name.index(after: dot)...]) {
    case "c": return .c
    case "cc", "cp", "cxx", "cpp", "CPP", "c++", "C": return .cxx
    case "m": return .objc
    case "mm", "M": return .objcxx
    case "S", "sx": return .assemblerWithCpp
    case "i", "ii", "mi", "mii", "s": return .preprocessed
    default: return nil
    }
  }

  /// The language `-x NAME` names, or nil when kiln does not cache it.
  static func language(ofOption value: String) -> Language?? {
    switch value {
    case "c": return .some(.c)
    case "c++": return .some(.cxx)
    case "objective-c": return .some(.objc)
    case "objective-c++": return .some(.objcxx)
    case "assembler-with-cpp": return .some(.assemblerWithCpp)
    case "cpp-output", "c++-cpp-output", "objective-c-cpp-output", "assembler": return .some(.preprocessed)
    case "none": return .some(nil)
    default: return nil
    }
  }

  /// The file name `path` would have with `suffix` in place of its extension.
  static func replacingExtension(of path: String, with suffix: String) -> String {
    let name = Paths.fileName(path)
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return path + suffix }
    return String(path.dropLast(name.distance(from: dot, to: name.endIndex))) + suffix
  }

  /// A cacheable compile, or why not.
  package enum Parsed: Sendable {
    case success(CompileCommand)
    case failure(Uncacheable)
  }

  /// Reads `arguments` (everything after the compiler, response files already
  /// expanded); `environment` for the variables that write depfiles behind the flags'
  /// back.
  package static func parse(_ arguments: [String], environment: [String: String]) -> Parsed {
    var mode: Character?  // "c" for -c, "S" for -S
    var output: String?
    var sources: [(String, Language)] = []
    var linkInputs = 0
    var depfileWanted = false
    var depfileFlag: String?
    var explicitLanguage: Language?
    var splitDwarf = false
    var coverageNotes = false
    var preprocessorArguments: [String] = []
    var outputIndices: [Int] = []
    var i = 0
    func refuse(_ reason: String) -> Parsed { .failure(Uncacheable(reason)) }
    for name in ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "CCC_OVERRIDE_OPTIONS"] where environment[name] != nil {
      return refuse("\(name) is set")
    }
    while i < arguments.count {
      let arg = arguments[i]
      let next: String? = i + 1 < arguments.count ? arguments[i + 1] : nil
      if let reason = refusedFlags[arg] { return refuse(reason) }
      for (prefix, reason) in refusedPrefixes where arg.hasPrefix(prefix) { return refuse(reason) }
      if arg.hasPrefix("-print-") || arg.hasPrefix("--print-") || arg.hasPrefix("-dump") && !arg.hasPrefix("-dumpbase")
        && !arg.hasPrefix("-dumpdir") || arg == "--version" || arg == "--help" || arg.hasPrefix("--help=") {
        return refuse("no compile (\(arg))")
      }
      if arg.hasPrefix("-Wp,") {
        if arg.contains(",-M") { return refuse("depfile flags through -Wp (\(arg))") }
        preprocessorArguments.append(arg)
        i += 1
        continue
      }
      if arg == "-Xclang" || arg == "-Xpreprocessor" {
        guard let next else { return refuse("\(arg) without a value") }
        if ["-load", "-plugin", "-add-plugin", "-emit-pch", "-include-pch"].contains(next) || next.hasPrefix("-M") {
          return refuse("\(arg) \(next)")
        }
        preprocessorArguments += [arg, next]
        i += 2
        continue
      }
      switch arg {
      case "-c", "-S":
        // gcc and clang stop at the earlier stage: -S wins over -c in either order.
        if mode != "S" { mode = arg == "-c" ? "c" : "S" }
        i += 1
        continue
      case "-o":
        guard let next else { return refuse("-o without a file") }
        output = next
        outputIndices += [i, i + 1]
        i += 2
        continue
      case "-MD", "-MMD":
        depfileWanted = true
        i += 1
        continue
      case "-MP":
        i += 1
        continue
      case "-MF", "-MT", "-MQ":
        guard let next else { return refuse("\(arg) without a value") }
        if arg == "-MF" { depfileFlag = next }
        i += 2
        continue
      case "-x":
        guard let next else { return refuse("-x without a language") }
        guard let lang = language(ofOption: next) else { return refuse("language not cached (-x \(next))") }
        explicitLanguage = lang
        preprocessorArguments += [arg, next]
        i += 2
        continue
      case "--coverage", "-ftest-coverage":
        coverageNotes = true
        preprocessorArguments.append(arg)
        i += 1
        continue
      case "-gsplit-dwarf":
        splitDwarf = true
        preprocessorArguments.append(arg)
        i += 1
        continue
      case "-":
        return refuse("source on stdin")
      case "-arch":
        if i + 2 < arguments.count, arguments[(i + 2)...].contains("-arch") { return refuse("several -arch") }
      default:
        break
      }
      if arg.hasPrefix("-o") && arg.count > 2 {
        output = String(arg.dropFirst(2))
        outputIndices.append(i)
        i += 1
        continue
      }
      if arg.hasPrefix("-MF") || arg.hasPrefix("-MT") || arg.hasPrefix("-MQ") {
        if arg.hasPrefix("-MF") { depfileFlag = String(arg.dropFirst(3)) }
        i += 1
        continue
      }
      if arg.hasPrefix("-x") && arg.count > 2 {
        let value = String(arg.dropFirst(2))
        guard let lang = language(ofOption: value) else { return refuse("language not cached (-x \(value))") }
        explicitLanguage = lang
        preprocessorArguments.append(arg)
        i += 1
        continue
      }
      if arg.hasPrefix("-") {
        preprocessorArguments.append(arg)
        if takesValue.contains(arg) {
          guard let next else { return refuse("\(arg) without a value") }
          preprocessorArguments.append(next)
          i += 2
        } else {
          i += 1
        }
        continue
      }
      // A file: a source when its name (or -x) says so, else a link input.
      if let lang = explicitLanguage ?? language(ofName: arg) {
        sources.append((arg, lang))
      } else {
        linkInputs += 1
      }
      preprocessorArguments.append(arg)
      i += 1
    }
    guard let mode else { return refuse(sources.isEmpty && linkInputs == 0 ? "no compile" : "link") }
    guard linkInputs == 0 else { return refuse("link inputs with -\(mode)") }
    guard sources.count == 1 else { return refuse(sources.isEmpty ? "no source" : "several sources") }
    let (source, language) = sources[0]
    if output == "-" { return refuse("output on stdout (-o -)") }
    let object = output ?? replacingExtension(of: Paths.fileName(source), with: mode == "c" ? ".o" : ".s")
    var depfile: String?
    if depfileWanted {
      depfile = depfileFlag ?? replacingExtension(of: object, with: ".d")
    }
    let namesMatter = depfile != nil || splitDwarf || coverageNotes || arguments.contains { arg in
      ["-flto", "-fprofile-arcs", "-frecord-gcc-switches", "-dumpbase", "-dumpdir", "-fcoverage"].contains {
        arg.hasPrefix($0)
      }
    }
    let keyArguments = namesMatter
      ? arguments : arguments.indices.filter { !outputIndices.contains($0) }.map { arguments[$0] }
    return .success(CompileCommand(
      arguments: arguments, source: source, language: language, object: object, depfile: depfile,
      splitDwarf: splitDwarf && mode == "c" ? replacingExtension(of: object, with: ".dwo") : nil,
      coverageNotes: coverageNotes ? replacingExtension(of: object, with: ".gcno") : nil,
      preprocessorArguments: preprocessorArguments, keyArguments: keyArguments))
  }
}

/// gcc's response files: `@FILE` stands for the words in FILE (whitespace between
/// words, '…' and "…" quote, a backslash escapes the next character), read recursively.
package enum ResponseFile {
  /// The words of a response file's text.
  package static func words(_ text: [UInt8]) -> [String] {
    var words: [String] = []
    var word: [UInt8] = []
    var inWord = false
    var quote: UInt8?
    var i = 0
    while i < text.count {
      let b = text[i]
      if b == UInt8(ascii: "\\"), i + 1 < text.count {
        word.append(text[i + 1])
        inWord = true
        i += 2
        continue
      }
      if let q = quote {
        if b == q { quote = nil } else { word.append(b) }
      } else if b == UInt8(ascii: "'") || b == UInt8(ascii: "\"") {
        quote = b
        inWord = true
      } else if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0C || b == 0x0B {
        if inWord { words.append(String(decoding: word, as: UTF8.self)) }
        word = []
        inWord = false
      } else {
        word.append(b)
        inWord = true
      }
      i += 1
    }
    if inWord { words.append(String(decoding: word, as: UTF8.self)) }
    return words
  }

  /// `arguments` with every `@FILE` replaced by its words (relative to `directory`),
  /// or nil when one cannot be read or nests too deep.
  package static func expand(_ arguments: [String], in directory: String, read: (String) -> [UInt8]?, depth: Int = 0)
    -> [String]?
  {
    guard arguments.contains(where: { $0.hasPrefix("@") }) else { return arguments }
    guard depth < 8 else { return nil }
    var out: [String] = []
    for arg in arguments {
      guard arg.hasPrefix("@"), arg.count > 1 else {
        out.append(arg)
        continue
      }
      let name = String(arg.dropFirst())
      guard let bytes = read(name.hasPrefix("/") ? name : Paths.join(directory, name)),
            let inner = expand(words(bytes), in: directory, read: read, depth: depth + 1)
      else { return nil }
      out += inner
    }
    return out
  }
}
