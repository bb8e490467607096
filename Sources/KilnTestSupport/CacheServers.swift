import Foundation

/// The real cache servers the remote tests start on 127.0.0.1, each in a scratch folder
/// of the test and stopped by its PID (`TestServer`): nginx serving Bazel's HTTP cache
/// protocol with WebDAV, and buildbox-casd serving REAPI. Nil when the tool is absent
/// (`make test` extracts both into .build/test-tools).
package enum CacheServers {
  /// nginx in one process (no master, no daemon: started as root it stays root, so it
  /// can write its root folder), everything under `scratch`; the cache's files land in
  /// `nginxRoot(scratch)`.
  package static func nginx(_ scratch: TempDirectory) throws -> TestServer? {
    guard let binary = TestTools.nginx else { return nil }
    let root = scratch.path
    try FileManager.default.createDirectory(atPath: nginxRoot(scratch), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
    var lastError: (any Error)?
    // A free port may be taken between the look and nginx's bind: try another.
    for _ in 0..<3 {
      let port = TestServer.freePort()
      let config = """
        daemon off;
        master_process off;
        worker_processes 1;
        pid \(root)/nginx.pid;
        error_log \(root)/error.log;
        events { worker_connections 256; }
        http {
          access_log off;
          client_body_temp_path \(root)/tmp/body;
          proxy_temp_path \(root)/tmp/proxy;
          fastcgi_temp_path \(root)/tmp/fastcgi;
          uwsgi_temp_path \(root)/tmp/uwsgi;
          scgi_temp_path \(root)/tmp/scgi;
          client_max_body_size 0;
          keepalive_requests 100000;
          server {
            listen 127.0.0.1:\(port);
            root \(nginxRoot(scratch));
            location / { dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r; }
          }
        }
        """
      try config.write(toFile: root + "/nginx.conf", atomically: true, encoding: .utf8)
      do {
        return try TestServer(binary, ["-p", root, "-c", root + "/nginx.conf", "-e", root + "/error.log"], scratch: scratch, port: port)
      } catch {
        lastError = error
      }
    }
    throw lastError!
  }

  /// Where nginx keeps what it is sent: `<root>/<url path>`.
  package static func nginxRoot(_ scratch: TempDirectory) -> String { scratch.path + "/root" }

  /// buildbox-casd on a free port with a fresh storage folder under `scratch/casd`.
  package static func casd(_ scratch: TempDirectory) throws -> TestServer? {
    try casd(scratch, extra: [])
  }

  /// buildbox-casd that also executes (REAPI's Execution service): each action in a
  /// bubblewrap sandbox by buildbox-run, its input root as `/` with the system folders
  /// (/usr, and /bin, /lib, /lib64 from it, and /etc) bound read-only, as a worker image would
  /// offer them. nil when casd, buildbox-run or bwrap is missing.
  package static func executingCasd(_ scratch: TempDirectory, jobs: Int = 4) throws -> TestServer? {
    guard let runner = TestTools.buildboxRun, FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap") else { return nil }
    var extra = ["--buildbox-run=\(runner)", "--jobs=\(jobs)"]
    for bind in ["/usr:/usr", "/usr/bin:/bin", "/usr/lib:/lib", "/usr/lib64:/lib64", "/etc:/etc"] { extra.append("--runner-arg=--ro-bind-mount=\(bind)") }
    return try casd(scratch, extra: extra)
  }

  private static func casd(_ scratch: TempDirectory, extra: [String]) throws -> TestServer? {
    guard let binary = TestTools.buildboxCasd else { return nil }
    var lastError: (any Error)?
    for _ in 0..<3 {
      let port = TestServer.freePort()
      let storage = casdStorage(scratch)
      TempDirectory.removeTree(storage)
      try FileManager.default.createDirectory(atPath: storage, withIntermediateDirectories: true)
      do {
        return try TestServer(binary, extra + ["--bind", "127.0.0.1:\(port)", storage], scratch: scratch, port: port)
      } catch {
        lastError = error
      }
    }
    throw lastError!
  }

  /// casd's storage folder (its CAS objects and action cache).
  package static func casdStorage(_ scratch: TempDirectory) -> String { scratch.path + "/casd" }
}
