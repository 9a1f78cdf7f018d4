/**
 * A fault-injecting reverse proxy for tests of the REST store: it forwards requests to a real `mlflow server`
 * and, on demand, answers in its place (429 with `Retry-After`, 503), drops the connection before or after the
 * server acted, or never answers; it can also require credentials and speak TLS. Every request it sees is
 * recorded, so tests can count attempts and see when they came.
 *
 * @module
 */
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo, Socket } from "node:net"

/** What the proxy does with one request instead of (or besides) forwarding it. */
export type Fault =
  /** Answers with this status (and `Retry-After`, body), without forwarding. */
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string; readonly body?: string }
  /** Closes the connection without forwarding: the server never sees the request. */
  | { readonly kind: "drop" }
  /** Forwards, lets the server act and answer, then closes the connection instead of relaying the answer. */
  | { readonly kind: "dropAfterForward" }
  /** Never answers (the connection stays open until the client gives up or the proxy closes). */
  | { readonly kind: "hang" }

/** One request as the proxy saw it. */
export interface SeenRequest {
  readonly method: string
  /** Path and query, as sent. */
  readonly url: string
  /** `Date.now()` when it arrived. */
  readonly at: number
  readonly authorization: string | undefined
  /** The fault applied, if any. */
  readonly fault: Fault["kind"] | undefined
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** The server to forward to, e.g. `http://127.0.0.1:5000`. */
  readonly target: string
  /** Serve https with this key and certificate (PEM). */
  readonly tls?: { readonly key: string; readonly cert: string }
  /** When given, a request whose `Authorization` header it refuses gets 401 with an MLflow-style error body. */
  readonly authorize?: (authorization: string | undefined) => boolean
  /**
   * Serve the server under this path (e.g. `/mlflow`), as a reverse proxy routing by prefix does: the prefix is
   * stripped before forwarding, and any other path — `//api/…` included — gets 404 without reaching the server.
   */
  readonly pathPrefix?: string
}

/** A running proxy. */
export interface FaultProxy {
  readonly url: string
  readonly port: number
  /** Every request seen so far, in arrival order. */
  readonly requests: ReadonlyArray<SeenRequest>
  /** Requests whose path contains `path`. */
  readonly seen: (path: string) => ReadonlyArray<SeenRequest>
  /** The next requests whose path contains `path` get these faults, one each, in order. */
  readonly inject: (path: string, ...faults: ReadonlyArray<Fault>) => void
  /** Forgets every fault not applied yet. */
  readonly clearFaults: () => void
  readonly close: () => Promise<void>
}

/** Starts a proxy on a free loopback port in front of `options.target`. */
export const startFaultProxy = async (options: FaultProxyOptions): Promise<FaultProxy> => {
  const target = new URL(options.target)
  const requests: Array<SeenRequest> = []
  const queues: Array<{ readonly path: string; readonly faults: Array<Fault> }> = []
  const sockets = new Set<Socket>()

  const takeFault = (url: string): Fault | undefined => {
    for (const queue of queues) {
      if (url.includes(queue.path) && queue.faults.length > 0) return queue.faults.shift()
    }
    return undefined
  }

  const forward = (request: http.IncomingMessage, body: Buffer, relay: (answer: http.IncomingMessage) => void) => {
    const headers = { ...request.headers }
    // The server checks Host against its allowed hosts; credentials were the proxy's business.
    delete headers.host
    delete headers.authorization
    delete headers.connection
    const path = (request.url ?? "/").slice(options.pathPrefix?.length ?? 0)
    const upstream = http.request(
      { hostname: target.hostname, port: target.port, method: request.method, path, headers },
      relay
    )
    upstream.on("error", () => request.socket.destroy())
    upstream.end(body)
  }

  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const url = request.url ?? "/"
      const authorization = request.headers.authorization
      const record = (fault: Fault["kind"] | undefined) =>
        requests.push({ method: request.method ?? "", url, at: Date.now(), authorization, fault })
      if (options.authorize !== undefined && !options.authorize(authorization)) {
        record(undefined)
        response.writeHead(401, { "content-type": "application/json" })
        response.end(JSON.stringify({ error_code: "UNAUTHENTICATED", message: "You are not authenticated." }))
        return
      }
      if (options.pathPrefix !== undefined && !url.startsWith(`${options.pathPrefix}/api/`)) {
        record(undefined)
        response.writeHead(404, { "content-type": "text/html" })
        response.end("<h1>404 Not Found</h1>")
        return
      }
      const fault = takeFault(url)
      record(fault?.kind)
      const body = Buffer.concat(chunks)
      switch (fault?.kind) {
        case "status":
          response.writeHead(fault.status, {
            "content-type": "application/json",
            ...(fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter })
          })
          response.end(fault.body ?? JSON.stringify({ error_code: "TEMPORARILY_UNAVAILABLE", message: "injected" }))
          return
        case "drop":
          request.socket.destroy()
          return
        case "hang":
          return
        case "dropAfterForward":
          forward(request, body, (answer) => {
            answer.resume()
            answer.on("end", () => request.socket.destroy())
          })
          return
        case undefined:
          forward(request, body, (answer) => {
            response.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(response)
          })
      }
    })
  }

  const server =
    options.tls === undefined ? http.createServer(handler) : https.createServer({ ...options.tls }, handler)
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  // TLS handshakes the client refuses (an untrusted certificate) must not crash the test process.
  server.on("tlsClientError", () => {})
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${port}`,
    port,
    requests,
    seen: (path) => requests.filter((request) => request.url.includes(path)),
    inject: (path, ...faults) => {
      const queue = queues.find((candidate) => candidate.path === path)
      if (queue) queue.faults.push(...faults)
      else queues.push({ path, faults: [...faults] })
    },
    clearFaults: () => {
      for (const queue of queues) queue.faults.length = 0
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
