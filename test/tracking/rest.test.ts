import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Mlflow, MlflowValidationError } from "../../src/services/mlflow.js"
import { makeRestStore, type RestCredentials, type RestStoreOptions } from "../../src/tracking/rest.js"
import type { TrackingStore } from "../../src/tracking/store.js"
import { lines, startFixture } from "../fixtures/cli-harness.js"
import { freePort } from "../harness/net.js"
import { describePostgres, type Postgres, postgres, startPostgres } from "../harness/postgres.js"
import { type FaultProxy, startFaultProxy } from "../harness/proxy.js"
import { describeInterop, type MlflowServer, pythonJson, startMlflowServer } from "../harness/python.js"
import { tempDirs } from "../harness/temp.js"
import { selfSignedCertificate } from "../harness/tls.js"
import { bytes, newRun, storeSuite, text, uniqueName } from "./store-suite.js"

/** A fresh directory, removed after the file's tests. */
const tempDir = tempDirs("autogen-rest-")

/** A RUNNING run named `runName` in an experiment of its own. */
const newRestRun = (store: TrackingStore, runName = "r") => newRun(store, uniqueName("rest"), runName)

describe("makeRestStore", () => {
  it.live("refuses a tracking URI that is not http(s), without sending anything", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(makeRestStore({ uri: "http//nowhere" }))
      expect(error.operation).toBe("open")
      expect(error.reason).toContain("not a valid http(s) URL")
      expect((yield* Effect.flip(makeRestStore({ uri: "ftp://ana:pw@host/x" }))).message).toBe(
        "MLflow open failed on ftp://host/x: expected an http:// or https:// URL"
      )
    })
  )

  it.live("an unreachable server fails the operation past its budget (+1 s), naming the URI without credentials", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const store = yield* makeRestStore({ uri: `http://ana:s3cret@127.0.0.1:${port}/mlflow`, retryBudget: "1 second" })
      const started = Date.now()
      const error = yield* Effect.flip(store.getOrCreateExperiment("x"))
      const elapsed = Date.now() - started
      expect(error.uri).toBe(`http://127.0.0.1:${port}/mlflow`)
      expect(error.message).toMatch(
        new RegExp(
          `^MLflow getOrCreateExperiment failed on http://127\\.0\\.0\\.1:${port}/mlflow: cannot connect \\(ECONNREFUSED\\); ` +
            "still failing after \\d+ attempts over [\\d.]+ s, the retry budget \\(mlflow_service\\.retry_budget: 1 s\\)$"
        )
      )
      expect(JSON.stringify(error)).not.toContain("s3cret")
      expect(elapsed).toBeLessThan(1000 + 1000)
    })
  )
})

/** A PostgreSQL cluster and an `mlflow server` (2 workers) on it, shared by the PostgreSQL tests. */
interface PostgresStack {
  readonly pg: Postgres
  readonly server: MlflowServer
  readonly dir: string
}
let postgresStarting: Promise<PostgresStack> | undefined
/** Starts the PostgreSQL stack once; the first caller starts it, later ones wait for the same. */
const postgresStack = (): Promise<PostgresStack> => {
  postgresStarting ??= (async () => {
    const dir = tempDir()
    const pg = await startPostgres()
    try {
      const server = await startMlflowServer({
        backendStoreUri: pg.uri,
        artifactsDestination: path.join(dir, "artifacts"),
        cwd: dir,
        workers: 2
      })
      return { pg, server, dir }
    } catch (error) {
      await pg.stop()
      throw error
    }
  })()
  return postgresStarting
}
afterAll(async () => {
  const stack = await postgresStarting?.catch(() => undefined)
  await stack?.server.stop()
  await stack?.pg.stop()
}, 60_000)

/** MLflow's own `basic-auth` app: who may do what is the server's decision, not a proxy's. */
interface AuthServer {
  readonly server: MlflowServer
  readonly admin: { readonly username: string; readonly password: string }
}
// ASCII: MLflow 3.18 decodes Basic credentials as ASCII on its FastAPI routes (artifact uploads), see docs/deploy.md.
const AUTH_ADMIN = { username: "admin", password: "adm1n-Pa ss:word" }
let authStarting: Promise<AuthServer> | undefined
/** Starts the basic-auth server once (own backend and user store); later callers wait for the same. */
const authServer = (): Promise<AuthServer> => {
  authStarting ??= (async () => {
    const dir = tempDir()
    const config = path.join(dir, "basic_auth.ini")
    fs.writeFileSync(
      config,
      [
        "[mlflow]",
        "default_permission = READ",
        `database_uri = sqlite:///${path.join(dir, "basic_auth.db")}`,
        `admin_username = ${AUTH_ADMIN.username}`,
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        "grant_default_workspace_access = false",
        ""
      ].join("\n")
    )
    const server = await startMlflowServer({
      backendStoreUri: `sqlite:///${path.join(dir, "mlflow.db")}`,
      artifactsDestination: path.join(dir, "artifacts"),
      cwd: dir,
      appName: "basic-auth",
      env: {
        MLFLOW_AUTH_CONFIG_PATH: config,
        MLFLOW_AUTH_ADMIN_PASSWORD: AUTH_ADMIN.password,
        MLFLOW_FLASK_SERVER_SECRET_KEY: "autogen-team-tests"
      }
    })
    return { server, admin: AUTH_ADMIN }
  })()
  return authStarting
}
afterAll(async () => {
  const auth = await authStarting?.catch(() => undefined)
  await auth?.server.stop()
}, 60_000)

describeInterop("RestTrackingStore", () => {
  // One sqlite-backed server for the whole file: tests keep apart by experiment name.
  let server: MlflowServer
  let serverDir: string
  /** The server on `serverDir`'s SQLite file and artifacts; on `port` to restart it where its clients expect it. */
  const startSqliteServer = (port?: number) =>
    startMlflowServer({
      backendStoreUri: `sqlite:///${path.join(serverDir, "mlflow.db")}`,
      artifactsDestination: path.join(serverDir, "artifacts"),
      cwd: serverDir,
      ...(port === undefined ? {} : { port })
    })
  beforeAll(async () => {
    // Python's start-up dominates a server's boot: the PostgreSQL-backed one boots at the same time, for later.
    if (postgres.available) postgresStack().catch(() => undefined)
    authServer().catch(() => undefined)
    serverDir = tempDir()
    server = await startSqliteServer()
  })
  afterAll(() => server?.stop())

  storeSuite("RestTrackingStore on mlflow server (SQLite backend)", () =>
    Effect.map(makeRestStore({ uri: server.url }), (store) => ({ store, oracleUri: server.url, cwd: serverDir }))
  )

  /** The runs of an experiment as the server itself lists them, read without our store. */
  const serverRuns = (experimentId: string) =>
    Effect.promise(async () => {
      const response = await fetch(`${server.url}/api/2.0/mlflow/runs/search`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ experiment_ids: [experimentId], run_view_type: "ALL", max_results: 100 })
      })
      const body = (await response.json()) as {
        runs?: ReadonlyArray<{ info: { run_id: string }; data: { tags?: ReadonlyArray<{ key: string }> } }>
      }
      return body.runs ?? []
    })

  describe("through a fault-injecting proxy", () => {
    let proxy: FaultProxy
    beforeAll(async () => {
      proxy = await startFaultProxy({ target: server.url })
    })
    afterAll(() => proxy?.close())
    beforeEach(() => proxy.clearFaults())

    const proxied = (options: Partial<RestStoreOptions> = {}) => makeRestStore({ uri: proxy.url, ...options })

    it.live("retries 429, 503 and lost connections, honouring Retry-After, and each point lands once", () =>
      Effect.gen(function* () {
        const store = yield* proxied()
        const run = yield* newRestRun(store)
        const before = proxy.seen("runs/log-batch").length
        proxy.inject(
          "runs/log-batch",
          { kind: "status", status: 429, retryAfter: "1" },
          { kind: "status", status: 503 },
          { kind: "drop" },
          { kind: "dropAfterForward" }
        )
        const metrics = Array.from({ length: 10 }, (_, step) => ({
          key: "m",
          value: step / 10,
          timestamp: 1000 + step,
          step
        }))
        yield* store.logBatch(run.runId, {
          metrics,
          params: [{ key: "lr", value: "0.1" }],
          tags: [{ key: "t", value: "v" }]
        })
        const attempts = proxy.seen("runs/log-batch").slice(before)
        expect(attempts.map((attempt) => attempt.fault)).toEqual([
          "status",
          "status",
          "drop",
          "dropAfterForward",
          undefined
        ])
        // Retry-After: 1 is a floor for the wait after the 429, whatever the backoff would have chosen (less
        // the millisecond a timer may fire early by).
        expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(999)
        // The batch reached the server twice (the lost answer, then the retry); MLflow kept every point once.
        expect(yield* store.getMetricHistory(run.runId, "m")).toEqual(metrics)
        const data = yield* store.getRun(run.runId)
        expect(data.params).toEqual([{ key: "lr", value: "0.1" }])
        expect(data.tags).toEqual([
          { key: "mlflow.runName", value: "r" },
          { key: "t", value: "v" }
        ])
      })
    )

    it.live("a run whose creation answer was lost is found by its request tag, not created twice", () =>
      Effect.gen(function* () {
        const store = yield* proxied()
        const experiment = yield* store.getOrCreateExperiment(uniqueName("create"))
        const create = (runName: string) =>
          store.createRun({ experimentId: experiment.experimentId, runName, userId: "u", startTime: 1, tags: [] })
        // The server created the run, but its answer never arrived: the retry must find that run.
        proxy.inject("runs/create", { kind: "dropAfterForward" })
        const searchesBefore = proxy.seen("runs/search").length
        const lost = yield* create("lost-answer")
        expect(proxy.seen("runs/search").length - searchesBefore).toBe(1)
        // The request never reached the server: the retry looks, finds nothing, and creates it.
        proxy.inject("runs/create", { kind: "drop" })
        const dropped = yield* create("dropped-request")
        const runs = yield* serverRuns(experiment.experimentId)
        expect(runs.map((run) => run.info.run_id).sort()).toEqual([lost.runId, dropped.runId].sort())
        for (const run of runs) {
          expect((run.data.tags ?? []).map((tag) => tag.key)).toEqual(["mlflow.runName"])
        }
        expect(lost).toMatchObject({ runName: "lost-answer", status: "RUNNING" })
      })
    )

    it.live("does not retry what the server refused, and shows its error_code and message", () =>
      Effect.gen(function* () {
        const store = yield* proxied()
        const run = yield* newRestRun(store)
        yield* store.logBatch(run.runId, { params: [{ key: "p", value: "1" }] })
        const before = proxy.seen("runs/log-batch").length
        const conflict = yield* Effect.flip(store.logBatch(run.runId, { params: [{ key: "p", value: "2" }] }))
        expect(proxy.seen("runs/log-batch").length - before).toBe(1)
        expect(conflict.reason).toMatch(
          /^the server answered HTTP 400, INVALID_PARAMETER_VALUE: Changing param values is not allowed\./
        )
        const missing = yield* Effect.flip(store.getRun("f".repeat(32)))
        expect(missing.reason).toBe(
          `the server answered HTTP 404, RESOURCE_DOES_NOT_EXIST: Run with id=${"f".repeat(32)} not found`
        )
      })
    )

    it.live("a hung request times out and is retried; past the budget (+1 s) the operation fails", () =>
      Effect.gen(function* () {
        const store = yield* proxied({ requestTimeout: "300 millis", retryBudget: "1500 millis" })
        const hangs = Array.from({ length: 20 }, () => ({ kind: "hang" }) as const)
        proxy.inject("experiments/get-by-name", ...hangs)
        const started = Date.now()
        const error = yield* Effect.flip(store.getOrCreateExperiment(uniqueName("hung")))
        const elapsed = Date.now() - started
        expect(error.reason).toMatch(
          /^no response within .+; still failing after \d+ attempts over [\d.]+ s, the retry budget/
        )
        // Every attempt was cut at the request timeout (or what was left of the budget), then retried.
        expect(
          proxy.seen("experiments/get-by-name").filter((request) => request.fault === "hang").length
        ).toBeGreaterThan(2)
        expect(elapsed).toBeLessThan(1500 + 1000)
        proxy.clearFaults()
        // The server asking to wait longer than the budget allows ends the retries at once.
        const retryLater = yield* proxied({ retryBudget: "5 seconds" })
        proxy.inject("runs/get", { kind: "status", status: 503, retryAfter: "120" })
        const before = proxy.seen("runs/get").length
        const refused = yield* Effect.flip(retryLater.getRun("a".repeat(32)))
        expect(proxy.seen("runs/get").length - before).toBe(1)
        expect(refused.reason).toContain("(it asked to retry after 120 s)")
      })
    )

    it.live("invalid keys and values are refused before anything is sent, naming MLflow's rule", () =>
      Effect.gen(function* () {
        const store = yield* proxied()
        const run = yield* newRestRun(store)
        const sent = proxy.requests.length
        const badKey = yield* Effect.flip(
          store.logBatch(run.runId, { metrics: [{ key: "loss?", value: 1, timestamp: 1, step: 0 }] })
        )
        expect(badKey.reason).toContain("keys may only contain alphanumerics")
        const longParam = yield* Effect.flip(
          store.logBatch(run.runId, { params: [{ key: "p", value: "x".repeat(6001) }] })
        )
        expect(longParam.reason).toContain("param values are at most 6000 characters")
        expect(proxy.requests.length).toBe(sent)

        // The same through the Mlflow service, as a job logs.
        const program = Effect.gen(function* () {
          const mlflow = yield* Mlflow
          return yield* mlflow.withRun({ name: "validated" }, (handle) =>
            Effect.gen(function* () {
              const before = proxy.requests.length
              const problems = [
                yield* Effect.flip(handle.logMetric("bad key!", 1)),
                yield* Effect.flip(handle.logMetric("loss", 1, { step: 0.5 })),
                yield* Effect.flip(handle.logParam("p", "x".repeat(6001))),
                yield* Effect.flip(handle.setTag("t", "x".repeat(8001))),
                yield* Effect.flip(handle.logParam("../escape", 1))
              ]
              expect(proxy.requests.length).toBe(before)
              return problems
            })
          )
        })
        const problems = yield* program.pipe(
          Effect.provide(Mlflow.layer({ tracking_uri: proxy.url, experiment_name: uniqueName("service") }))
        )
        for (const problem of problems) assert.instanceOf(problem, MlflowValidationError)
        expect(problems.map((problem) => (problem as MlflowValidationError).rule)).toEqual([
          expect.stringContaining("alphanumerics"),
          "steps are integers",
          "param values are at most 6000 characters (this one has 6001)",
          "tag values are at most 8000 characters (this one has 8001)",
          expect.stringContaining("must not resolve to another name")
        ])
      })
    )
  })

  describe("credentials", () => {
    let guarded: FaultProxy
    beforeAll(async () => {
      const basic = `Basic ${Buffer.from("ana:pa ss:wörd").toString("base64")}`
      guarded = await startFaultProxy({
        target: server.url,
        authorize: (header) => header === "Bearer t0ken" || header === basic
      })
    })
    afterAll(() => guarded?.close())

    const withEnv = (env: Record<string, string>) =>
      Effect.provide(Layer.succeed(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env)))

    it.live("MLFLOW_TRACKING_TOKEN or USERNAME/PASSWORD authenticate, and neither ever shows", () =>
      Effect.gen(function* () {
        const viaToken = yield* makeRestStore({ uri: guarded.url }).pipe(withEnv({ MLFLOW_TRACKING_TOKEN: "t0ken" }))
        yield* viaToken.getOrCreateExperiment(uniqueName("token"))
        const viaBasic = yield* makeRestStore({ uri: guarded.url }).pipe(
          withEnv({
            MLFLOW_TRACKING_USERNAME: "ana",
            MLFLOW_TRACKING_PASSWORD: "pa ss:wörd",
            MLFLOW_TRACKING_TOKEN: "x"
          })
        )
        yield* viaBasic.getOrCreateExperiment(uniqueName("basic"))
        // user:password@ in the URI, when the environment names no credentials.
        const inUri = guarded.url.replace("://", `://ana:${encodeURIComponent("pa ss:wörd")}@`)
        const viaUri = yield* makeRestStore({ uri: inUri }).pipe(withEnv({}))
        yield* viaUri.getOrCreateExperiment(uniqueName("uri"))
        expect(viaUri.uri).toBe(guarded.url)

        const before = guarded.requests.length
        const wrong = yield* makeRestStore({ uri: guarded.url }).pipe(withEnv({ MLFLOW_TRACKING_TOKEN: "wr0ng" }))
        const refused = yield* Effect.flip(wrong.getOrCreateExperiment(uniqueName("wrong")))
        expect(guarded.requests.length - before).toBe(1)
        expect(refused.message).toBe(
          `MLflow getOrCreateExperiment failed on ${guarded.url}: the server answered HTTP 401, UNAUTHENTICATED: ` +
            "You are not authenticated.; check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
        )
        expect(JSON.stringify(refused)).not.toContain("wr0ng")
        expect(String(refused)).not.toContain("wr0ng")
        // Given explicitly, credentials are Redacted too.
        const explicit = yield* makeRestStore({
          uri: guarded.url,
          credentials: { _tag: "Bearer", token: Redacted.make("t0ken") }
        })
        yield* explicit.getOrCreateExperiment(uniqueName("explicit"))
      })
    )
  })

  describe("https", () => {
    let tls: FaultProxy
    let certFile: string
    beforeAll(async () => {
      const certificate = selfSignedCertificate(tempDir())
      certFile = certificate.certFile
      tls = await startFaultProxy({
        target: server.url,
        tls: { key: certificate.key, cert: certificate.cert },
        authorize: (header) => header === "Bearer tls-t0ken"
      })
    })
    afterAll(() => tls?.close())

    it.live("a job process reaches an https server through a private CA (NODE_EXTRA_CA_CERTS) with its token", () =>
      Effect.gen(function* () {
        const experimentName = uniqueName("https")
        const result = yield* Effect.promise(
          () =>
            startFixture("metrics-job.ts", [tls.url, experimentName, "over-tls", "100"], {
              cwd: tempDir(),
              env: { NODE_EXTRA_CA_CERTS: certFile, MLFLOW_TRACKING_TOKEN: "tls-t0ken" },
              timeoutMs: 120_000
            }).done
        )
        // Whatever a Node version may warn about, no tracking call may fail or be left unwritten.
        expect(result.stderr).not.toMatch(/TrackingError|failed|not written/)
        expect(result.code).toBe(0)
        const { runId } = JSON.parse(lines(result.stdout).at(-1)!) as { runId: string }
        const store = yield* makeRestStore({ uri: server.url })
        const data = yield* store.getRun(runId)
        expect(data.info.status).toBe("FINISHED")
        expect(data.tags).toContainEqual({ key: "label", value: "over-tls" })
        expect((yield* store.getMetricHistory(runId, "loss")).map((point) => point.step)).toEqual(
          Array.from({ length: 20 }, (_, step) => step)
        )
        expect(tls.requests.every((request) => request.authorization === "Bearer tls-t0ken")).toBe(true)
      })
    )

    it.live("an untrusted certificate fails at once, saying how to trust it", () =>
      Effect.gen(function* () {
        const store = yield* makeRestStore({ uri: tls.url, credentials: { _tag: "None" } })
        const error = yield* Effect.flip(store.getOrCreateExperiment(uniqueName("untrusted")))
        expect(error.reason).toMatch(
          /^the TLS connection was refused \(DEPTH_ZERO_SELF_SIGNED_CERT\); .*NODE_EXTRA_CA_CERTS/
        )
        expect(error.reason).not.toContain("retry budget")
      })
    )
  })

  describe("behind a reverse proxy", () => {
    // pathPrefix "" serves the server at the root and refuses any other path, `//api/…` included.
    const proxies: Array<FaultProxy> = []
    afterAll(() => Promise.all(proxies.map((proxy) => proxy.close())))

    it.live("a server at the root or under a path prefix (with or without a trailing slash) gets only its paths", () =>
      Effect.gen(function* () {
        for (const [prefix, suffix] of [
          ["", ""],
          ["", "/"],
          ["/mlflow", ""],
          ["/mlflow", "/"],
          ["/teams/ml/tracking", "//"]
        ] as const) {
          const proxy = yield* Effect.promise(() => startFaultProxy({ target: server.url, pathPrefix: prefix }))
          proxies.push(proxy)
          const store = yield* makeRestStore({ uri: `${proxy.url}${prefix}${suffix}` })
          const run = yield* newRestRun(store, `prefix ${prefix}${suffix}`)
          yield* store.logBatch(run.runId, {
            metrics: [{ key: "m", value: 1, timestamp: 1, step: 0 }],
            params: [{ key: "p", value: "v" }],
            tags: [{ key: "t", value: "u" }]
          })
          yield* store.putArtifact(run, "dir/a b.txt", bytes("x"))
          expect(text(yield* store.getArtifact(run, "dir/a b.txt"))).toBe("x")
          expect((yield* store.listArtifacts(run)).map((entry) => entry.path)).toEqual(["dir", "dir/a b.txt"])
          yield* store.endRun(run.runId, "FINISHED", 1_700_000_000_001)
          const back = yield* store.getRun(run.runId)
          expect(back.info.status).toBe("FINISHED")
          expect(back.params).toEqual([{ key: "p", value: "v" }])
          expect(proxy.requests.length).toBeGreaterThanOrEqual(8)
          for (const request of proxy.requests) expect(request.url).toMatch(new RegExp(`^${prefix}/api/2\\.0/[a-z]`))
        }
      })
    )
  })

  describe("MLflow's basic-auth app (mlflow server --app-name basic-auth)", () => {
    const basic = (username: string, password: string): RestCredentials => ({
      _tag: "Basic",
      username,
      password: Redacted.make(password)
    })

    it.live("a job process logs a run with MLFLOW_TRACKING_USERNAME / PASSWORD; Python mlflow reads it back", () =>
      Effect.gen(function* () {
        const { server: auth, admin } = yield* Effect.promise(authServer)
        const experimentName = uniqueName("auth")
        const result = yield* Effect.promise(
          () =>
            startFixture("metrics-job.ts", [auth.url, experimentName, "authenticated", "100"], {
              cwd: tempDir(),
              env: { MLFLOW_TRACKING_USERNAME: admin.username, MLFLOW_TRACKING_PASSWORD: admin.password },
              timeoutMs: 120_000
            }).done
        )
        expect(result.stderr).not.toMatch(/TrackingError|failed|not written/)
        expect(result.code).toBe(0)
        expect(result.stdout + result.stderr).not.toContain(admin.password)
        const { runId } = JSON.parse(lines(result.stdout).at(-1)!) as { runId: string }

        // An artifact goes through the server's authenticated artifact proxy.
        const store = yield* makeRestStore({ uri: auth.url, credentials: basic(admin.username, admin.password) })
        const run = yield* store.getRun(runId)
        yield* store.putArtifact(run.info, "notes/auth.txt", bytes("through basic-auth"))

        const read = yield* Effect.promise(() =>
          pythonJson<{ status: string; label: string; steps: Array<number>; artifact: string }>(
            `
import json, os, sys, tempfile
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
run = client.get_run(sys.argv[2])
steps = sorted(m.step for m in client.get_metric_history(sys.argv[2], "loss"))
path = client.download_artifacts(sys.argv[2], "notes/auth.txt", tempfile.mkdtemp())
print(json.dumps({"status": run.info.status, "label": run.data.tags.get("label"), "steps": steps,
                  "artifact": open(path).read()}))
`,
            [auth.url, runId],
            { env: { MLFLOW_TRACKING_USERNAME: admin.username, MLFLOW_TRACKING_PASSWORD: admin.password } }
          )
        )
        expect(read).toEqual({
          status: "FINISHED",
          label: "authenticated",
          steps: Array.from({ length: 20 }, (_, step) => step),
          artifact: "through basic-auth"
        })
      })
    )

    it.live("a wrong password or none is refused at the first answer, with the hint and without the password", () =>
      Effect.gen(function* () {
        const { server: auth, admin } = yield* Effect.promise(authServer)
        for (const credentials of [
          basic(admin.username, "not-the-password"),
          { _tag: "None" } satisfies RestCredentials
        ]) {
          const store = yield* makeRestStore({ uri: auth.url, credentials })
          const started = Date.now()
          const error = yield* Effect.flip(store.getOrCreateExperiment(uniqueName("refused")))
          // Not retried: a 401 cannot get better by waiting.
          expect(Date.now() - started).toBeLessThan(1_000)
          expect(error.message).toMatch(
            new RegExp(
              `^MLflow getOrCreateExperiment failed on ${auth.url}: the server answered HTTP 401, You are not ` +
                "authenticated\\..*; check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD$"
            )
          )
          expect(JSON.stringify(error) + String(error)).not.toContain("not-the-password")
        }
      })
    )

    it.live("a user without permission on an experiment gets 403 naming it; its own experiment takes its runs", () =>
      Effect.gen(function* () {
        const { server: auth, admin } = yield* Effect.promise(authServer)
        const asAdmin = yield* makeRestStore({ uri: auth.url, credentials: basic(admin.username, admin.password) })
        const guarded = yield* asAdmin.getOrCreateExperiment(uniqueName("admins-only"))
        const reader = { username: uniqueName("reader"), password: "r3ader-Pa55word!" }
        const created = yield* Effect.promise(() =>
          fetch(`${auth.url}/api/2.0/mlflow/users/create`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              authorization: `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString("base64")}`
            },
            body: JSON.stringify(reader)
          })
        )
        expect(created.status).toBe(200)

        const asReader = yield* makeRestStore({ uri: auth.url, credentials: basic(reader.username, reader.password) })
        // default_permission = READ: the reader sees the experiment, and may not add a run to it.
        expect((yield* asReader.getOrCreateExperiment(guarded.name)).experimentId).toBe(guarded.experimentId)
        const refused = yield* Effect.flip(
          asReader.createRun({
            experimentId: guarded.experimentId,
            runName: "not allowed",
            userId: reader.username,
            startTime: 1_700_000_000_000,
            tags: []
          })
        )
        expect(refused.message).toBe(
          `MLflow createRun failed on ${auth.url}: the server answered HTTP 403, Permission denied; the credentials ` +
            "were accepted but lack this permission: ask the server's admin for it, or check MLFLOW_TRACKING_TOKEN " +
            "or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD name the intended user"
        )
        const own = yield* newRestRun(asReader, "reader's own")
        yield* asReader.logBatch(own.runId, { metrics: [{ key: "m", value: 1, timestamp: 1, step: 0 }] })
        yield* asReader.endRun(own.runId, "FINISHED", 1_700_000_000_001)
        const back = yield* asAdmin.getRun(own.runId)
        expect(back.info.status).toBe("FINISHED")
        expect(back.info.userId).toBe("tester")
        expect(back.latestMetrics.map((metric) => [metric.key, metric.value])).toEqual([["m", 1]])
      })
    )
  })

  // Last in the file: it kills the shared server and leaves a restarted one in its place.
  it.live(
    "a server killed mid-run and restarted within the budget: every point present once, run FINISHED",
    () =>
      Effect.gen(function* () {
        const halfway = yield* Deferred.make<void>()
        const restarted = yield* Deferred.make<void>()
        const experimentName = uniqueName("killed")
        const steps = 1000
        const values = (step: number) => ({ loss: 1 / (step + 1), accuracy: step / steps, lr: 0.1 * 0.99 ** step })
        const job = Effect.gen(function* () {
          const mlflow = yield* Mlflow
          return yield* mlflow.withRun({ name: "survivor", params: { seed: 7 } }, (run) =>
            Effect.gen(function* () {
              for (let step = 0; step < steps; step++) {
                yield* run.logMetrics(values(step), { step, timestamp: 1_700_000_000_000 + step })
                if (step === 300) {
                  yield* run.flush
                  yield* Deferred.succeed(halfway, undefined)
                }
                // Steps 301 to 699 are logged while the server is down (the flush of 1000 points waits for it).
                if (step === 700) yield* Deferred.await(restarted)
                if (step % 25 === 0) yield* Effect.sleep("10 millis")
              }
              yield* run.setTag("after", "restart")
              return run.info.runId
            })
          )
        }).pipe(
          Effect.provide(Mlflow.layer({ tracking_uri: server.url, experiment_name: experimentName, retry_budget: 150 }))
        )
        const fiber = yield* Effect.forkChild(job)
        yield* Deferred.await(halfway)
        yield* Effect.promise(() => server.kill())
        const down = yield* Effect.promise(() =>
          fetch(`${server.url}/health`).then(
            () => "up",
            () => "down"
          )
        )
        expect(down).toBe("down")
        server = yield* Effect.promise(() => startSqliteServer(server.port))
        yield* Deferred.succeed(restarted, undefined)
        const runId = yield* Fiber.join(fiber)

        const python = yield* Effect.promise(() =>
          pythonJson<{
            status: string
            endTime: number | null
            params: Record<string, string>
            tags: Record<string, string>
            history: Record<string, ReadonlyArray<readonly [number, number, number]>>
          }>(
            `
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
run = client.get_run(sys.argv[2])
print(json.dumps({
    "status": run.info.status, "endTime": run.info.end_time, "params": run.data.params, "tags": run.data.tags,
    "history": {k: sorted([m.step, m.timestamp, m.value] for m in client.get_metric_history(run.info.run_id, k))
                for k in ("loss", "accuracy", "lr")},
}))
`,
            [server.url, runId]
          )
        )
        expect(python.status).toBe("FINISHED")
        expect(python.endTime).toEqual(expect.any(Number))
        expect(python.params).toMatchObject({ seed: "7" })
        expect(python.tags).toMatchObject({ after: "restart", "mlflow.runName": "survivor" })
        for (const key of ["loss", "accuracy", "lr"] as const) {
          expect(python.history[key]).toEqual(
            Array.from({ length: steps }, (_, step) => [step, 1_700_000_000_000 + step, values(step)[key]])
          )
        }
      }),
    300_000
  )
})

describePostgres("RestTrackingStore on mlflow server (PostgreSQL backend)", () => {
  let pgServer: MlflowServer | undefined
  let dir: string
  beforeAll(async () => {
    ;({ server: pgServer, dir } = await postgresStack())
  }, 300_000)
  it.live(
    "8 job processes × 5,000 metric points at once: every run and every point present, 0 errors",
    () =>
      Effect.gen(function* () {
        const url = pgServer!.url
        const experimentName = uniqueName("fleet")
        const jobs = Array.from({ length: 8 }, (_, i) =>
          startFixture("metrics-job.ts", [url, experimentName, `job-${i}`, "5000"], {
            cwd: dir,
            timeoutMs: 240_000
          })
        )
        const results = yield* Effect.promise(() => Promise.all(jobs.map((job) => job.done)))
        for (const result of results) {
          // Whatever a Node version may warn about, no tracking call may fail or be left unwritten.
          expect(result.stderr).not.toMatch(/TrackingError|failed|not written/)
          expect(result.code).toBe(0)
        }
        const runIds = results.map((result) => (JSON.parse(lines(result.stdout).at(-1)!) as { runId: string }).runId)
        const python = yield* Effect.promise(() =>
          pythonJson<Record<string, { status: string; label: string; points: Record<string, ReadonlyArray<number>> }>>(
            `
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
experiment = client.get_experiment_by_name(sys.argv[2])
out = {}
for run in client.search_runs([experiment.experiment_id], max_results=100):
    out[run.info.run_id] = {
        "status": run.info.status, "label": run.data.tags.get("label"),
        "points": {k: sorted(m.step for m in client.get_metric_history(run.info.run_id, k)) for k in run.data.metrics},
    }
print(json.dumps(out))
`,
            [url, experimentName]
          )
        )
        expect(Object.keys(python).sort()).toEqual([...runIds].sort())
        const everyStep = Array.from({ length: 1000 }, (_, step) => step)
        for (const [runId, run] of Object.entries(python)) {
          expect(run.status, runId).toBe("FINISHED")
          expect(Object.keys(run.points).sort()).toEqual(["accuracy", "grad_norm", "loss", "lr", "throughput"])
          for (const steps of Object.values(run.points)) expect(steps).toEqual(everyStep)
        }
        expect(
          Object.values(python)
            .map((run) => run.label)
            .sort()
        ).toEqual(Array.from({ length: 8 }, (_, i) => `job-${i}`))
      }),
    300_000
  )
})
