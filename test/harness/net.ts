/**
 * Loopback networking helpers for tests that start servers.
 *
 * @module
 */
import * as net from "node:net"

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it), for servers started by tests. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))))
    })
  })
