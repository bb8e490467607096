// swift-tools-version: 6.2
import PackageDescription

/// Targets follow STYLE.md section 1: imports only point down
/// (kiln -> KilnCLI -> KilnEngine -> KilnStore -> KilnSystem -> KilnHash -> KilnCore).
///
/// Release builds prespecialize generic metadata: the runtime otherwise builds the
/// metadata of every generic type kiln uses (arrays and dictionaries of its own
/// structs) at first use, in every process, and a null build is mostly start-up
/// (docs/architecture.md, "Start-up, and a compiler flag").
let strict: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .unsafeFlags(["-Xfrontend", "-prespecialize-generic-metadata"], .when(configuration: .release)),
]

let package = Package(
  name: "kiln",
  products: [
    .executable(name: "kiln", targets: ["kiln"]),
    // kiln's network helper (issue 18): dynamically linked against libcurl, started by
    // kiln only at the first remote request, so kiln itself stays static and libcurl-free.
    .executable(name: "kiln-remote", targets: ["kiln-remote"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
  ],
  targets: [
    .systemLibrary(name: "CXXHash", path: "Sources/CXXHash"),
    .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
    .systemLibrary(name: "CYAML", path: "Sources/CYAML"),
    .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
    .systemLibrary(name: "CCurl", path: "Sources/CCurl"),
    .target(name: "CSpawn"),
    .target(name: "KilnCore", swiftSettings: strict),
    .target(name: "KilnHash", dependencies: ["KilnCore", "CXXHash", "CCrypto"], swiftSettings: strict),
    .target(
      name: "KilnSystem",
      dependencies: [
        "KilnHash", "KilnCore", "CSpawn",
        .product(name: "SystemPackage", package: "swift-system"),
      ],
      swiftSettings: strict),
    .target(
      name: "KilnConfig",
      dependencies: ["KilnSystem", "KilnCore", "CYAML"],
      swiftSettings: strict),
    .target(name: "KilnStore", dependencies: ["KilnSystem", "KilnHash", "KilnCore", "CSQLite"], swiftSettings: strict),
    .target(name: "KilnEngine", dependencies: ["KilnStore", "KilnSystem", "KilnHash", "KilnCore"], swiftSettings: strict),
    .target(name: "KilnNinja", dependencies: ["KilnStore", "KilnSystem", "KilnCore"], swiftSettings: strict),
    .target(
      name: "KilnLauncher", dependencies: ["KilnNinja", "KilnStore", "KilnSystem", "KilnHash", "KilnCore", "CSpawn"],
      swiftSettings: strict),
    .target(name: "KilnReport", dependencies: ["KilnCore"], swiftSettings: strict),
    .target(name: "KilnWorkspaces", dependencies: ["KilnStore", "KilnSystem", "KilnCore"], swiftSettings: strict),
    .target(
      name: "KilnCLI",
      dependencies: [
        "KilnEngine", "KilnConfig", "KilnNinja", "KilnLauncher", "KilnReport", "KilnWorkspaces", "KilnRemoteCache", "KilnRemote",
        "KilnStore", "KilnSystem", "KilnHash", "KilnCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict),
    .target(name: "KilnRemote", dependencies: ["KilnSystem", "KilnCore"], swiftSettings: strict),
    .target(
      name: "KilnRemoteCache", dependencies: ["KilnRemote", "KilnStore", "KilnSystem", "KilnHash", "KilnCore"],
      swiftSettings: strict),
    .executableTarget(name: "kiln-remote", dependencies: ["KilnRemote", "CCurl"], swiftSettings: strict),
    // The release kiln is fully static (see the Makefile's `release`): a link-time flag
    // here rather than `-Xswiftc -static-executable` on the command line, so that one
    // release build plan (the same compile flags) makes both kiln and the dynamically
    // linked kiln-remote, and a second `make release` rebuilds nothing.
    .executableTarget(
      name: "kiln", dependencies: ["KilnCLI"], swiftSettings: strict,
      linkerSettings: [.unsafeFlags(["-static-executable"], .when(platforms: [.linux], configuration: .release))]),
    .target(
      name: "KilnTestSupport", dependencies: ["KilnEngine", "KilnWorkspaces", "KilnSystem", "KilnCore"],
      swiftSettings: strict),
    .testTarget(name: "KilnHashTests", dependencies: ["KilnHash"], swiftSettings: strict),
    .testTarget(name: "KilnSystemTests", dependencies: ["KilnSystem", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnConfigTests", dependencies: ["KilnConfig", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnStoreTests", dependencies: ["KilnStore", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnEngineTests", dependencies: ["KilnEngine", "KilnStore", "KilnConfig", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnNinjaTests", dependencies: ["KilnNinja", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnLauncherTests", dependencies: ["KilnLauncher", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnReportTests", dependencies: ["KilnReport", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(
      name: "KilnWorkspacesTests", dependencies: ["KilnWorkspaces", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnCLITests", dependencies: ["KilnCLI", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnIntegrationTests", dependencies: ["KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnRemoteCacheTests", dependencies: ["KilnRemoteCache", "KilnStore", "KilnHash", "KilnCore", "KilnTestSupport"], swiftSettings: strict),
    .testTarget(name: "KilnRemoteTests", dependencies: ["KilnRemote", "KilnTestSupport"], swiftSettings: strict),
  ]
)
