/**
 * A self-signed certificate for 127.0.0.1, made with the `openssl` command line, so tests can serve https that
 * only a client told to trust it (`NODE_EXTRA_CA_CERTS`) accepts.
 *
 * @module
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as path from "node:path"

/** A key and certificate (PEM), and the certificate's file, as `NODE_EXTRA_CA_CERTS` takes it. */
export interface Certificate {
  readonly key: string
  readonly cert: string
  readonly certFile: string
}

/** Writes a one-day self-signed certificate for `IP:127.0.0.1` into `dir`. */
export const selfSignedCertificate = (dir: string): Certificate => {
  const keyFile = path.join(dir, "key.pem")
  const certFile = path.join(dir, "cert.pem")
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1"
    ],
    { stdio: "ignore" }
  )
  return { key: readFileSync(keyFile, "utf8"), cert: readFileSync(certFile, "utf8"), certFile }
}
