import Foundation
import KilnTestSupport

/// A CA, a server certificate for 127.0.0.1 and a client certificate it signed, made
/// with openssl in `scratch/tls`.
struct TestCertificates {
  let folder: String

  init(in scratch: TempDirectory) throws {
    folder = scratch.path + "/tls"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try "subjectAltName=IP:127.0.0.1\n".write(toFile: folder + "/server.ext", atomically: true, encoding: .utf8)
    try "extendedKeyUsage=clientAuth\n".write(toFile: folder + "/client.ext", atomically: true, encoding: .utf8)
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    let steps: [[String]] = [
      ["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kiln test CA"],
      ["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
      ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
       "-days", "2", "-extfile", "server.ext"],
      ["req"] + ec + ["-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=kiln test client"],
      ["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.pem",
       "-days", "2", "-extfile", "client.ext"],
    ]
    for step in steps {
      let result = try Program.run("/usr/bin/openssl", step, in: folder)
      guard result.status == 0 else { throw TempProjectError("openssl \(step.joined(separator: " ")): \(result.stderr)") }
    }
  }
}
