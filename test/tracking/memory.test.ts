import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { afterAll } from "vitest"
import { makeMemoryStore, memoryUri } from "../../src/tracking/memory.js"
import type { CreateRunInput, Metric, RunData } from "../../src/tracking/store.js"
import { TrackingError } from "../../src/tracking/store.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "autogen-memory-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const runInput = (overrides: Partial<CreateRunInput> = {}): CreateRunInput => ({
  experimentId: "0",
  runName: "run-a",
  userId: "tester",
  startTime: 1_700_000_000_000,
  tags: [],
  ...overrides
})

const point = (key: string, value: number, step: number, timestamp: number): Metric => ({ key, value, step, timestamp })

/** A store with one fresh run in the Default experiment. */
const withRun = (overrides: Partial<CreateRunInput> = {}) =>
  Effect.gen(function* () {
    const store = makeMemoryStore()
    const run = yield* store.createRun(runInput(overrides))
    return { store, run }
  })

const tagsOf = (data: RunData) => Object.fromEntries(data.tags.map((tag) => [tag.key, tag.value]))
const paramsOf = (data: RunData) => Object.fromEntries(data.params.map((param) => [param.key, param.value]))
const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString("utf8"))

describe("experiments", () => {
  it.effect("the Default experiment (id 0) exists in a new store", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      assert.strictEqual(store.uri, memoryUri)
      const experiments = yield* store.experiments
      assert.lengthOf(experiments, 1)
      assert.strictEqual(experiments[0]!.experimentId, "0")
      assert.strictEqual(experiments[0]!.name, "Default")
      assert.strictEqual(experiments[0]!.lifecycleStage, "active")
      const again = yield* store.getOrCreateExperiment("Default")
      assert.strictEqual(again.experimentId, "0")
    })
  )

  it.effect("getOrCreateExperiment creates once and then returns the same experiment", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const first = yield* store.getOrCreateExperiment("tuning")
      const second = yield* store.getOrCreateExperiment("tuning")
      const other = yield* store.getOrCreateExperiment("training")
      assert.deepStrictEqual(second, first)
      assert.strictEqual(first.experimentId, "1")
      assert.strictEqual(other.experimentId, "2")
      assert.strictEqual(first.artifactLocation, "memory://1")
      assert.deepStrictEqual(
        (yield* store.experiments).map((experiment) => experiment.name),
        ["Default", "tuning", "training"]
      )
    })
  )

  it.effect("stores are independent of each other", () =>
    Effect.gen(function* () {
      const a = makeMemoryStore()
      const b = makeMemoryStore()
      yield* a.getOrCreateExperiment("only-in-a")
      yield* a.createRun(runInput())
      assert.lengthOf(yield* b.experiments, 1)
      assert.lengthOf(yield* b.runs, 0)
    })
  )
})

describe("createRun", () => {
  it.effect("creates a RUNNING run with the runName in info and in the mlflow.runName tag", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const experiment = yield* store.getOrCreateExperiment("exp")
      const info = yield* store.createRun(
        runInput({ experimentId: experiment.experimentId, runName: "nightly", tags: [{ key: "job.kind", value: "T" }] })
      )
      expect(info.runId).toMatch(/^[0-9a-f]{32}$/)
      assert.strictEqual(info.status, "RUNNING")
      assert.strictEqual(info.endTime, null)
      assert.strictEqual(info.runName, "nightly")
      assert.strictEqual(info.userId, "tester")
      assert.strictEqual(info.startTime, 1_700_000_000_000)
      assert.strictEqual(info.lifecycleStage, "active")
      assert.strictEqual(info.artifactUri, `memory://${experiment.experimentId}/${info.runId}/artifacts`)
      const data = yield* store.getRun(info.runId)
      assert.deepStrictEqual(data.info, info)
      assert.deepStrictEqual(tagsOf(data), { "job.kind": "T", "mlflow.runName": "nightly" })
      const runs = yield* store.runs
      assert.lengthOf(runs, 1)
      assert.strictEqual(runs[0]!.info.runId, info.runId)
    })
  )

  it.effect("a matching mlflow.runName tag is fine; a conflicting one is rejected and creates nothing", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      yield* store.createRun(runInput({ runName: "same", tags: [{ key: "mlflow.runName", value: "same" }] }))
      const error = yield* Effect.flip(
        store.createRun(runInput({ runName: "one", tags: [{ key: "mlflow.runName", value: "other" }] }))
      )
      assert.instanceOf(error, TrackingError)
      assert.strictEqual(error.operation, "create run")
      expect(error.reason).toContain("one")
      expect(error.reason).toContain("other")
      assert.lengthOf(yield* store.runs, 1)
    })
  )

  it.effect("an unknown experiment is a TrackingError", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const error = yield* Effect.flip(store.createRun(runInput({ experimentId: "42" })))
      assert.strictEqual(error._tag, "TrackingError")
      assert.strictEqual(error.message, "MLflow create run failed on memory://: experiment 42 not found")
    })
  )

  it.effect("every run gets its own id", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const ids = new Set<string>()
      for (let i = 0; i < 20; i++) ids.add((yield* store.createRun(runInput({ runName: `r${i}` }))).runId)
      assert.strictEqual(ids.size, 20)
    })
  )
})

describe("logBatch: params", () => {
  it.effect("params are write-once: logging the same value again is fine", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.logBatch(run.runId, { params: [{ key: "lr", value: "0.1" }] })
      yield* store.logBatch(run.runId, { params: [{ key: "lr", value: "0.1" }] })
      assert.deepStrictEqual(paramsOf(yield* store.getRun(run.runId)), { lr: "0.1" })
    })
  )

  it.effect("a different value fails, and NOTHING of that batch is written", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.logBatch(run.runId, { params: [{ key: "lr", value: "0.1" }] })
      const error = yield* Effect.flip(
        store.logBatch(run.runId, {
          metrics: [point("loss", 0.5, 0, 1000)],
          params: [
            { key: "epochs", value: "10" },
            { key: "lr", value: "0.2" }
          ],
          tags: [{ key: "stage", value: "tuning" }]
        })
      )
      assert.instanceOf(error, TrackingError)
      assert.strictEqual(error.operation, "log batch")
      assert.strictEqual(error.reason, 'param lr was already logged as "0.1" and cannot change to "0.2"')
      assert.strictEqual(
        error.message,
        'MLflow log batch failed on memory://: param lr was already logged as "0.1" and cannot change to "0.2"'
      )
      const data = yield* store.getRun(run.runId)
      assert.deepStrictEqual(paramsOf(data), { lr: "0.1" })
      assert.isUndefined(tagsOf(data).stage)
      assert.deepStrictEqual(data.latestMetrics, [])
      assert.deepStrictEqual(yield* store.getMetricHistory(run.runId, "loss"), [])
    })
  )

  it.effect("one batch giving a new param two different values fails and writes nothing, as the SQLite store", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      const error = yield* Effect.flip(
        store.logBatch(run.runId, {
          params: [
            { key: "lr", value: "0.1" },
            { key: "lr", value: "0.2" }
          ],
          tags: [{ key: "stage", value: "x" }]
        })
      )
      assert.strictEqual(error.operation, "log batch")
      expect(error.reason).toContain("lr")
      const data = yield* store.getRun(run.runId)
      assert.deepStrictEqual(data.params, [])
      assert.isUndefined(tagsOf(data).stage)
      // The same value twice in one batch is one param.
      yield* store.logBatch(run.runId, {
        params: [
          { key: "lr", value: "0.1" },
          { key: "lr", value: "0.1" }
        ]
      })
      assert.deepStrictEqual((yield* store.getRun(run.runId)).params, [{ key: "lr", value: "0.1" }])
    })
  )

  it.effect("unknown run ids are TrackingErrors for every run operation", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const { run } = yield* withRun()
      const ghost = { ...run, runId: "0".repeat(32) }
      const errors = [
        yield* Effect.flip(store.logBatch(ghost.runId, {})),
        yield* Effect.flip(store.endRun(ghost.runId, "FINISHED", 1)),
        yield* Effect.flip(store.getRun(ghost.runId)),
        yield* Effect.flip(store.getMetricHistory(ghost.runId, "m")),
        yield* Effect.flip(store.putArtifact(ghost, "a.txt", { _tag: "Bytes", bytes: new Uint8Array([1]) })),
        yield* Effect.flip(store.listArtifacts(ghost))
      ]
      assert.deepStrictEqual(
        errors.map((error) => error.operation),
        ["log batch", "end run", "get run", "get metric history", "log artifact", "list artifacts"]
      )
      for (const error of errors) {
        assert.strictEqual(error.reason, `run ${ghost.runId} not found`)
        assert.strictEqual(error.uri, "memory://")
      }
    })
  )
})

describe("logBatch: tags", () => {
  it.effect("tags are overwritable", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.logBatch(run.runId, { tags: [{ key: "stage", value: "a" }] })
      yield* store.logBatch(run.runId, { tags: [{ key: "stage", value: "b" }] })
      assert.strictEqual(tagsOf(yield* store.getRun(run.runId)).stage, "b")
    })
  )
})

describe("logBatch: metrics", () => {
  it.effect("a point identical to a stored one (key, value, step, timestamp) is ignored", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.5, 1, 100), point("loss", 0.5, 1, 100)] })
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.5, 1, 100)] })
      // Same step and timestamp but another value is another point.
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.4, 1, 100)] })
      const history = yield* store.getMetricHistory(run.runId, "loss")
      assert.deepStrictEqual(
        history.map((metric) => metric.value),
        [0.5, 0.4]
      )
    })
  )

  it.effect("NaN points are deduplicated too", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.logBatch(run.runId, { metrics: [point("m", Number.NaN, 0, 1), point("m", Number.NaN, 0, 1)] })
      const history = yield* store.getMetricHistory(run.runId, "m")
      assert.lengthOf(history, 1)
      assert.isTrue(Number.isNaN(history[0]!.value))
    })
  )

  it.effect("latest metric is the greatest (step, timestamp, value), not the last logged", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      const latest = (key: string) =>
        Effect.map(store.getRun(run.runId), (data) => data.latestMetrics.find((metric) => metric.key === key))
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.9, 5, 1000)] })
      // A lower step logged later does not replace it…
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.1, 2, 9999)] })
      assert.deepStrictEqual(yield* latest("loss"), point("loss", 0.9, 5, 1000))
      // …an equal step with an earlier timestamp does not either…
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.2, 5, 999)] })
      assert.deepStrictEqual(yield* latest("loss"), point("loss", 0.9, 5, 1000))
      // …nor a lower value at the same step and timestamp…
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.3, 5, 1000)] })
      assert.deepStrictEqual(yield* latest("loss"), point("loss", 0.9, 5, 1000))
      // …but a greater value at the same step and timestamp does,
      yield* store.logBatch(run.runId, { metrics: [point("loss", 1.5, 5, 1000)] })
      assert.deepStrictEqual(yield* latest("loss"), point("loss", 1.5, 5, 1000))
      // and so do a later timestamp at that step, and a higher step.
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.7, 5, 1001)] })
      assert.deepStrictEqual(yield* latest("loss"), point("loss", 0.7, 5, 1001))
      yield* store.logBatch(run.runId, { metrics: [point("loss", 0.6, 6, 0)] })
      assert.deepStrictEqual(yield* latest("loss"), point("loss", 0.6, 6, 0))
    })
  )

  it.effect("latest metrics are kept per key", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.logBatch(run.runId, {
        metrics: [point("loss", 0.5, 0, 1), point("acc", 0.7, 3, 1), point("loss", 0.4, 1, 2), point("acc", 0.6, 1, 5)]
      })
      const data = yield* store.getRun(run.runId)
      const byKey = Object.fromEntries(data.latestMetrics.map((metric) => [metric.key, metric]))
      assert.deepStrictEqual(byKey, { loss: point("loss", 0.4, 1, 2), acc: point("acc", 0.7, 3, 1) })
    })
  )

  it.effect("getMetricHistory orders by step then timestamp, whatever the logging order", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.logBatch(run.runId, {
        metrics: [
          point("loss", 3, 2, 50),
          point("loss", 1, 0, 10),
          point("other", 9, 1, 1),
          point("loss", 2, 2, 20),
          point("loss", 0, -1, 99)
        ]
      })
      yield* store.logBatch(run.runId, { metrics: [point("loss", 4, 1, 5)] })
      const history = yield* store.getMetricHistory(run.runId, "loss")
      assert.deepStrictEqual(
        history.map((metric) => [metric.step, metric.timestamp, metric.value]),
        [
          [-1, 99, 0],
          [0, 10, 1],
          [1, 5, 4],
          [2, 20, 2],
          [2, 50, 3]
        ]
      )
      assert.deepStrictEqual(yield* store.getMetricHistory(run.runId, "missing"), [])
    })
  )
})

describe("endRun", () => {
  it.effect("sets status and end time; the rest of the info is unchanged", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.endRun(run.runId, "FAILED", 1_700_000_000_500)
      const data = yield* store.getRun(run.runId)
      assert.deepStrictEqual(data.info, { ...run, status: "FAILED", endTime: 1_700_000_000_500 })
      assert.strictEqual((yield* store.runs)[0]!.info.status, "FAILED")
    })
  )
})

describe("artifacts", () => {
  it.effect("stores bytes and real files, reads them back, lists files with their directories", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      const file = path.join(root, "model.json")
      fs.writeFileSync(file, '{"weights":[1,2,3]}')
      yield* store.putArtifact(run, "config.yaml", { _tag: "Bytes", bytes: new TextEncoder().encode("lr: 0.1\n") })
      yield* store.putArtifact(run, "models/best/model.json", { _tag: "File", path: file })
      yield* store.putArtifact(run, "./logs/job.log", { _tag: "Bytes", bytes: new TextEncoder().encode("line\n") })
      assert.strictEqual(text(yield* store.readArtifact(run.runId, "config.yaml")), "lr: 0.1\n")
      assert.strictEqual(text(yield* store.readArtifact(run.runId, "models/best/model.json")), '{"weights":[1,2,3]}')
      assert.strictEqual(text(yield* store.readArtifact(run.runId, "logs/job.log")), "line\n")
      assert.strictEqual(text(yield* store.readArtifact(run.runId, "./logs/job.log")), "line\n")
      assert.isUndefined(yield* store.readArtifact(run.runId, "nope.txt"))
      assert.isUndefined(yield* store.readArtifact("no-such-run", "config.yaml"))
      // The TrackingStore way: getArtifact reads the same bytes, and fails where there are none.
      assert.strictEqual(text(yield* store.getArtifact(run, "./models/best/model.json")), '{"weights":[1,2,3]}')
      const missing = yield* Effect.flip(store.getArtifact(run, "nope.txt"))
      assert.strictEqual(missing.operation, "get artifact")
      assert.include(missing.reason, "nope.txt")
      assert.deepStrictEqual(yield* store.listArtifacts(run), [
        { path: "config.yaml", isDir: false, fileSize: 8 },
        { path: "logs", isDir: true, fileSize: null },
        { path: "logs/job.log", isDir: false, fileSize: 5 },
        { path: "models", isDir: true, fileSize: null },
        { path: "models/best", isDir: true, fileSize: null },
        { path: "models/best/model.json", isDir: false, fileSize: 19 }
      ])
    })
  )

  it.effect("an artifact is a snapshot: changing the source afterwards does not change it", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      const bytes = new TextEncoder().encode("original")
      yield* store.putArtifact(run, "a.txt", { _tag: "Bytes", bytes })
      bytes.fill(0x41)
      const file = path.join(root, "snapshot.txt")
      fs.writeFileSync(file, "first")
      yield* store.putArtifact(run, "b.txt", { _tag: "File", path: file })
      fs.writeFileSync(file, "second")
      assert.strictEqual(text(yield* store.readArtifact(run.runId, "a.txt")), "original")
      assert.strictEqual(text(yield* store.readArtifact(run.runId, "b.txt")), "first")
      // Nor does changing what a read returned.
      ;(yield* store.readArtifact(run.runId, "a.txt"))?.fill(0x42)
      assert.strictEqual(text(yield* store.readArtifact(run.runId, "a.txt")), "original")
    })
  )

  it.effect("logging to the same path again replaces the artifact", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      yield* store.putArtifact(run, "a.txt", { _tag: "Bytes", bytes: new TextEncoder().encode("one") })
      yield* store.putArtifact(run, "a.txt", { _tag: "Bytes", bytes: new TextEncoder().encode("two!") })
      assert.strictEqual(text(yield* store.readArtifact(run.runId, "a.txt")), "two!")
      assert.deepStrictEqual(yield* store.listArtifacts(run), [{ path: "a.txt", isDir: false, fileSize: 4 }])
    })
  )

  it.effect("paths leaving the artifact root (../x, a/../../x, absolute) are rejected and store nothing", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      for (const bad of ["../x", "a/../../x", "/etc/passwd", "/x"]) {
        const error = yield* Effect.flip(
          store.putArtifact(run, bad, { _tag: "Bytes", bytes: new TextEncoder().encode("evil") })
        )
        assert.instanceOf(error, TrackingError)
        assert.strictEqual(error.operation, "log artifact")
        assert.strictEqual(error.reason, `artifact path ${JSON.stringify(bad)} leaves the run's artifact root`)
      }
      assert.deepStrictEqual(yield* store.listArtifacts(run), [])
    })
  )

  it.effect("a missing source file is a TrackingError naming the operation and keeping the cause", () =>
    Effect.gen(function* () {
      const { store, run } = yield* withRun()
      const missing = path.join(root, "does-not-exist.bin")
      const error = yield* Effect.flip(store.putArtifact(run, "x.bin", { _tag: "File", path: missing }))
      assert.strictEqual(error.operation, "log artifact")
      expect(error.reason).toContain("ENOENT")
      assert.isDefined(error.cause)
      assert.deepStrictEqual(yield* store.listArtifacts(run), [])
    })
  )

  it.effect("artifacts belong to their run", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const a = yield* store.createRun(runInput({ runName: "a" }))
      const b = yield* store.createRun(runInput({ runName: "b" }))
      yield* store.putArtifact(a, "only-a.txt", { _tag: "Bytes", bytes: new Uint8Array([1, 2]) })
      assert.lengthOf(yield* store.listArtifacts(a), 1)
      assert.deepStrictEqual(yield* store.listArtifacts(b), [])
      assert.isUndefined(yield* store.readArtifact(b.runId, "only-a.txt"))
    })
  )
})
