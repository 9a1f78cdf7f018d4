/**
 * The contract every {@link TrackingStore} keeps, as one suite run unchanged over each store (the embedded
 * SQLite store in `sqlite.test.ts`, the REST store against a real `mlflow server` in `rest.test.ts`): MLflow's
 * semantics through the store's own reads, and, with Python `mlflow` as the oracle, that `MlflowClient` reads
 * back exactly what was written and that we read and append to what Python wrote.
 *
 * Tests name their experiments with {@link uniqueName}, so a store may be shared by the whole suite (one
 * tracking server) or be fresh per test (one SQLite file).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ArtifactEntry, Metric, RunInfo, TrackingError, TrackingStore } from "../../src/tracking/store.js"
import { describeInterop, pythonJson } from "../harness/python.js"

/** A store to test, and where Python reads it back. */
export interface StoreUnderTest {
  readonly store: TrackingStore
  /** The tracking URI Python's `MlflowClient` reads the same data from. */
  readonly oracleUri: string
  /** The working directory for Python (relative paths in the store resolve against it). */
  readonly cwd: string
}

/** Opens the store for one test: fresh, or shared by the suite. */
export type OpenStore = () => Effect.Effect<StoreUnderTest, TrackingError, Scope.Scope>

/** What MLflow stores for ±Infinity (`sanitize_metric_value`). */
export const MAX_FLOAT = 1.7976931348623157e308

let counter = 0
/** An experiment name no other test (nor an earlier run of the suite on the same server) uses. */
export const uniqueName = (base: string): string =>
  `${base}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

const encoder = new TextEncoder()
/** An artifact source holding `text` as UTF-8. */
export const bytes = (text: string) => ({ _tag: "Bytes", bytes: encoder.encode(text) }) as const
/** An artifact's content read as UTF-8. */
export const text = (data: Uint8Array) => new TextDecoder().decode(data)

/** A RUNNING run named `runName` in the experiment `experimentName` (created when missing). */
export const newRun = (store: TrackingStore, experimentName: string, runName: string, startTime = 1_700_000_000_000) =>
  Effect.gen(function* () {
    const experiment = yield* store.getOrCreateExperiment(experimentName)
    return yield* store.createRun({
      experimentId: experiment.experimentId,
      runName,
      userId: "tester",
      startTime,
      tags: []
    })
  })

/** MLflow's stored form of a value: NaN stays NaN here, ±Infinity becomes ±max float. */
const clamp = (value: number): number =>
  value === Number.POSITIVE_INFINITY ? MAX_FLOAT : value === Number.NEGATIVE_INFINITY ? -MAX_FLOAT : value

// ---------------------------------------------------------------------------------------------------------------
// Python's view

/** Prints, as JSON, what `MlflowClient` reads back for the given experiments (all runs, histories, artifacts). */
const READ_BACK = `
import json, math, sys
from mlflow.tracking import MlflowClient

uri, names = sys.argv[1], json.loads(sys.argv[2])
client = MlflowClient(tracking_uri=uri)

def num(value):
    return "NaN" if isinstance(value, float) and math.isnan(value) else value

def walk(run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out.append({"path": f.path, "isDir": f.is_dir, "fileSize": f.file_size})
        if f.is_dir:
            out.extend(walk(run_id, f.path))
    return out

result = {}
for name in names:
    exp = client.get_experiment_by_name(name)
    runs = {}
    for run in client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"]):
        info = run.info
        runs[info.run_id] = {
            "info": {
                "runId": info.run_id, "runName": info.run_name, "experimentId": info.experiment_id,
                "userId": info.user_id, "status": info.status, "startTime": info.start_time,
                "endTime": info.end_time, "artifactUri": info.artifact_uri, "lifecycleStage": info.lifecycle_stage,
            },
            "params": run.data.params,
            "tags": run.data.tags,
            "latest": {k: num(v) for k, v in run.data.metrics.items()},
            "history": {
                k: sorted(
                    [{"key": m.key, "value": num(m.value), "step": m.step, "timestamp": m.timestamp}
                     for m in client.get_metric_history(info.run_id, k)],
                    key=lambda m: (m["step"], m["timestamp"]),
                )
                for k in run.data.metrics
            },
            "artifacts": walk(info.run_id),
        }
    result[name] = {
        "experiment": {
            "experimentId": exp.experiment_id, "name": exp.name, "artifactLocation": exp.artifact_location,
            "lifecycleStage": exp.lifecycle_stage, "creationTime": exp.creation_time,
            "lastUpdateTime": exp.last_update_time,
        },
        "runs": runs,
    }
print(json.dumps(result))
`

type PyNumber = number | "NaN"
interface PyRun {
  readonly info: Record<string, unknown>
  readonly params: Record<string, string>
  readonly tags: Record<string, string>
  readonly latest: Record<string, PyNumber>
  readonly history: Record<string, ReadonlyArray<{ key: string; value: PyNumber; step: number; timestamp: number }>>
  readonly artifacts: ReadonlyArray<ArtifactEntry>
}
type PyReadBack = Record<string, { experiment: Record<string, unknown>; runs: Record<string, PyRun> }>

const readBack = (under: StoreUnderTest, names: ReadonlyArray<string>) =>
  Effect.promise(() => pythonJson<PyReadBack>(READ_BACK, [under.oracleUri, JSON.stringify(names)], { cwd: under.cwd }))

/** How Python reports a value we logged. */
const asPython = (value: number): PyNumber => (Number.isNaN(value) ? "NaN" : clamp(value))

/** What a store reads back, in the shape of {@link READ_BACK}'s runs. */
const expectedRun = (store: TrackingStore, runId: string, keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const data = yield* store.getRun(runId)
    const history: Record<string, ReadonlyArray<{ key: string; value: PyNumber; step: number; timestamp: number }>> = {}
    for (const key of keys) {
      history[key] = (yield* store.getMetricHistory(runId, key)).map((m) => ({ ...m, value: asPython(m.value) }))
    }
    return {
      info: data.info,
      params: Object.fromEntries(data.params.map((p) => [p.key, p.value])),
      tags: Object.fromEntries(data.tags.map((t) => [t.key, t.value])),
      latest: Object.fromEntries(data.latestMetrics.map((m) => [m.key, asPython(m.value)])),
      history,
      artifacts: yield* store.listArtifacts(data.info)
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// The suite

/** Defines the shared store suite for one store. */
export const storeSuite = (name: string, open: OpenStore): void => {
  describe(`${name}: the TrackingStore contract`, () => {
    it.live("gets or creates experiments by name", () =>
      Effect.gen(function* () {
        const { store } = yield* open()
        const tuning = uniqueName("tuning")
        const first = yield* store.getOrCreateExperiment(tuning)
        expect(first).toMatchObject({ name: tuning, lifecycleStage: "active" })
        expect(first.experimentId).toMatch(/^\d+$/)
        expect(first.artifactLocation).toMatch(new RegExp(`${first.experimentId}$`))
        expect(yield* store.getOrCreateExperiment(tuning)).toEqual(first)
        const other = yield* store.getOrCreateExperiment(uniqueName("other"))
        expect(other.experimentId).not.toBe(first.experimentId)
        const blank = yield* Effect.flip(store.getOrCreateExperiment(" "))
        expect(blank.operation).toBe("getOrCreateExperiment")
        expect(blank.reason).toContain("empty")
      })
    )

    it.live("creates RUNNING runs named in the run and its mlflow.runName tag, and ends them", () =>
      Effect.gen(function* () {
        const { store } = yield* open()
        const experiment = yield* store.getOrCreateExperiment(uniqueName("runs"))
        const run = yield* store.createRun({
          experimentId: experiment.experimentId,
          runName: "trial",
          userId: "alice",
          startTime: 1234,
          tags: [{ key: "job.kind", value: "tuning" }]
        })
        expect(run).toEqual({
          runId: expect.stringMatching(/^[0-9a-f]{32}$/),
          runName: "trial",
          experimentId: experiment.experimentId,
          userId: "alice",
          status: "RUNNING",
          startTime: 1234,
          endTime: null,
          artifactUri: `${experiment.artifactLocation}/${run.runId}/artifacts`,
          lifecycleStage: "active"
        })
        const created = yield* store.getRun(run.runId)
        expect(created.info).toEqual(run)
        expect(created.tags).toEqual([
          { key: "job.kind", value: "tuning" },
          { key: "mlflow.runName", value: "trial" }
        ])

        const conflict = yield* Effect.flip(
          store.createRun({
            experimentId: experiment.experimentId,
            runName: "a",
            userId: "u",
            startTime: 1,
            tags: [{ key: "mlflow.runName", value: "b" }]
          })
        )
        expect(conflict.operation).toBe("createRun")
        expect(conflict.reason).toContain("different values")
        const missing = yield* Effect.flip(
          store.createRun({ experimentId: "987654", runName: "a", userId: "u", startTime: 1, tags: [] })
        )
        expect(missing.reason).toContain("987654")

        yield* store.endRun(run.runId, "FINISHED", 5678)
        expect((yield* store.getRun(run.runId)).info).toEqual({ ...run, status: "FINISHED", endTime: 5678 })
        const unknown = "0".repeat(32)
        const noRun = yield* Effect.flip(store.endRun(unknown, "FAILED", 1))
        expect(noRun.operation).toBe("endRun")
        expect(noRun.reason).toContain(unknown)
      })
    )

    it.live("params are write-once: a conflict fails the whole batch", () =>
      Effect.gen(function* () {
        const { store } = yield* open()
        const run = yield* newRun(store, uniqueName("params"), "r")
        yield* store.logBatch(run.runId, { params: [{ key: "lr", value: "0.1" }] })
        // The same value again is fine.
        yield* store.logBatch(run.runId, { params: [{ key: "lr", value: "0.1" }] })
        const error = yield* Effect.flip(
          store.logBatch(run.runId, {
            params: [
              { key: "batch", value: "32" },
              { key: "lr", value: "0.2" }
            ],
            metrics: [{ key: "loss", value: 1, timestamp: 10, step: 0 }],
            tags: [{ key: "t", value: "v" }]
          })
        )
        expect(error.operation).toBe("logBatch")
        for (const part of ["lr", "0.1", "0.2"]) expect(error.reason).toContain(part)
        const data = yield* store.getRun(run.runId)
        expect(data.params).toEqual([{ key: "lr", value: "0.1" }])
        expect(data.tags).toEqual([{ key: "mlflow.runName", value: "r" }])
        expect(data.latestMetrics).toEqual([])
        expect(yield* store.getMetricHistory(run.runId, "loss")).toEqual([])

        const inBatch = yield* Effect.flip(
          store.logBatch(run.runId, {
            params: [
              { key: "x", value: "1" },
              { key: "x", value: "2" }
            ]
          })
        )
        expect(inBatch.reason).toMatch(/write-once/)
        expect(inBatch.reason).toContain(`"1"`)
        expect(inBatch.reason).toContain(`"2"`)
        expect((yield* store.getRun(run.runId)).params).toEqual([{ key: "lr", value: "0.1" }])
      })
    )

    it.live("ignores duplicate metric points and reads NaN and ±Infinity back as MLflow stores them", () =>
      Effect.gen(function* () {
        const { store } = yield* open()
        const run = yield* newRun(store, uniqueName("metrics"), "r")
        const points: ReadonlyArray<Metric> = [
          { key: "m", value: 1.5, timestamp: 100, step: 0 },
          { key: "m", value: Number.NaN, timestamp: 101, step: 1 },
          { key: "m", value: Number.POSITIVE_INFINITY, timestamp: 102, step: 2 },
          { key: "m", value: Number.NEGATIVE_INFINITY, timestamp: 103, step: 3 },
          { key: "m", value: 1.5, timestamp: 100, step: 0 }
        ]
        yield* store.logBatch(run.runId, { metrics: points })
        yield* store.logBatch(run.runId, { metrics: points })
        expect(yield* store.getMetricHistory(run.runId, "m")).toEqual([
          { key: "m", value: 1.5, timestamp: 100, step: 0 },
          { key: "m", value: Number.NaN, timestamp: 101, step: 1 },
          { key: "m", value: MAX_FLOAT, timestamp: 102, step: 2 },
          { key: "m", value: -MAX_FLOAT, timestamp: 103, step: 3 }
        ])
        // A point differing only in value is a new point (MLflow's key includes the value).
        yield* store.logBatch(run.runId, { metrics: [{ key: "m", value: 2.5, timestamp: 100, step: 0 }] })
        expect(yield* store.getMetricHistory(run.runId, "m")).toHaveLength(5)
        const bad = yield* Effect.flip(
          store.logBatch(run.runId, { metrics: [{ key: "m", value: 1, timestamp: 1.5, step: 0 }] })
        )
        expect(bad.reason).toContain("integers")
        expect(yield* store.getMetricHistory(run.runId, "m")).toHaveLength(5)
      })
    )

    it.live("keeps the latest metric as the greatest point by (step, timestamp, value)", () =>
      Effect.gen(function* () {
        const { store } = yield* open()
        const run = yield* newRun(store, uniqueName("latest"), "r")
        const latest = Effect.map(store.getRun(run.runId), (data) => data.latestMetrics)
        const log = (value: number, timestamp: number, step: number) =>
          store.logBatch(run.runId, { metrics: [{ key: "m", value, timestamp, step }] })
        const point = (value: number, timestamp: number, step: number) => [{ key: "m", value, timestamp, step }]

        yield* log(1, 100, 5)
        expect(yield* latest).toEqual(point(1, 100, 5))
        // A lower step logged later (with a later timestamp) does not replace it.
        yield* log(2, 200, 3)
        expect(yield* latest).toEqual(point(1, 100, 5))
        // Same step, later timestamp wins; same step and timestamp, greater value wins; smaller value does not.
        yield* log(0.5, 150, 5)
        expect(yield* latest).toEqual(point(0.5, 150, 5))
        yield* log(0.7, 150, 5)
        expect(yield* latest).toEqual(point(0.7, 150, 5))
        yield* log(0.6, 150, 5)
        expect(yield* latest).toEqual(point(0.7, 150, 5))
        // Within one batch the greatest point wins whatever its position.
        yield* store.logBatch(run.runId, {
          metrics: [
            { key: "m", value: 3, timestamp: 300, step: 9 },
            { key: "m", value: Number.NaN, timestamp: 400, step: 10 },
            { key: "m", value: 4, timestamp: 500, step: 8 }
          ]
        })
        expect(yield* latest).toEqual(point(Number.NaN, 400, 10))
      })
    )

    it.live("upserts tags, renames the run through mlflow.runName, and refuses writes to unknown runs", () =>
      Effect.gen(function* () {
        const { store } = yield* open()
        const run = yield* newRun(store, uniqueName("tags"), "r")
        yield* store.logBatch(run.runId, { tags: [{ key: "a", value: "1" }] })
        yield* store.logBatch(run.runId, {
          tags: [
            { key: "a", value: "2" },
            { key: "mlflow.runName", value: "renamed" }
          ]
        })
        const data = yield* store.getRun(run.runId)
        expect(data.tags).toEqual([
          { key: "a", value: "2" },
          { key: "mlflow.runName", value: "renamed" }
        ])
        expect(data.info.runName).toBe("renamed")
        const unknown = "0".repeat(32)
        const error = yield* Effect.flip(store.logBatch(unknown, { tags: [{ key: "a", value: "1" }] }))
        expect(error.operation).toBe("logBatch")
        expect(error.reason).toContain(unknown)
        expect((yield* Effect.flip(store.getRun(unknown))).operation).toBe("getRun")
      })
    )

    it.live("stores artifacts from files and bytes, reads and lists them, and refuses paths that escape the run", () =>
      Effect.gen(function* () {
        const { store } = yield* open()
        const run = yield* newRun(store, uniqueName("artifacts"), "r")
        expect(yield* store.listArtifacts(run)).toEqual([])
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "autogen-artifact-source-"))
        const source = path.join(dir, "source.yaml")
        fs.writeFileSync(source, "a: 1\n")
        yield* store.putArtifact(run, "config/job.yaml", { _tag: "File", path: source })
        yield* store.putArtifact(run, "logs/./deep//job.log", bytes("hello"))
        yield* store.putArtifact(run, "logs/deep/job.log", bytes("hello!"))
        yield* store.putArtifact(run, "model.bin", { _tag: "Bytes", bytes: new Uint8Array([0, 255, 1, 254]) })
        expect(text(yield* store.getArtifact(run, "logs/deep/job.log"))).toBe("hello!")
        expect(text(yield* store.getArtifact(run, "config/job.yaml"))).toBe("a: 1\n")
        expect([...(yield* store.getArtifact(run, "model.bin"))]).toEqual([0, 255, 1, 254])
        expect(yield* store.listArtifacts(run)).toEqual<ReadonlyArray<ArtifactEntry>>([
          { path: "config", isDir: true, fileSize: null },
          { path: "config/job.yaml", isDir: false, fileSize: 5 },
          { path: "logs", isDir: true, fileSize: null },
          { path: "logs/deep", isDir: true, fileSize: null },
          { path: "logs/deep/job.log", isDir: false, fileSize: 6 },
          { path: "model.bin", isDir: false, fileSize: 4 }
        ])

        for (const bad of ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "a\\..\\b", "C:/x", "", "./"]) {
          const error = yield* Effect.flip(store.putArtifact(run, bad, bytes("x")))
          expect(error.operation).toBe("putArtifact")
          expect(error.reason).toContain("artifact path")
        }
        const missing = yield* Effect.flip(
          store.putArtifact(run, "x.txt", { _tag: "File", path: path.join(dir, "does-not-exist") })
        )
        expect(missing.reason).toContain("ENOENT")
        expect((yield* store.listArtifacts(run)).map((entry) => entry.path)).not.toContain("x.txt")
        expect((yield* Effect.flip(store.getArtifact(run, "x.txt"))).operation).toBe("getArtifact")
        fs.rmSync(dir, { recursive: true, force: true })
      })
    )
  })

  describeInterop(`${name} and Python mlflow`, () => {
    it.live(
      "Python's MlflowClient reads back everything we write",
      () =>
        Effect.gen(function* () {
          const under = yield* open()
          const { store } = under
          const experimentName = uniqueName("interop")
          const experiment = yield* store.getOrCreateExperiment(experimentName)
          const run = yield* store.createRun({
            experimentId: experiment.experimentId,
            runName: "trial-1",
            userId: "alice",
            startTime: 1_700_000_000_123,
            tags: [
              { key: "job.kind", value: "tuning" },
              { key: "mlflow.user", value: "alice" }
            ]
          })
          const keys = ["loss", "acc", "lr"]
          const special: Record<string, Record<number, number>> = {
            loss: { 40: Number.NaN, 99: Number.NaN },
            acc: { 50: Number.POSITIVE_INFINITY },
            lr: { 20: Number.NEGATIVE_INFINITY }
          }
          const metrics: Array<Metric> = []
          for (let step = 0; step < 100; step++) {
            keys.forEach((key, k) => {
              metrics.push({
                key,
                value: special[key]?.[step] ?? (k + 1) / (step + 1),
                timestamp: 1_700_000_001_000 + step * 10 + k,
                step
              })
            })
          }
          for (let i = 0; i < metrics.length; i += 70) {
            yield* store.logBatch(run.runId, {
              metrics: metrics.slice(i, i + 70),
              ...(i === 0
                ? {
                    params: [
                      { key: "lr", value: "0.001" },
                      { key: "optimizer", value: "adam" }
                    ],
                    tags: [{ key: "host", value: "box" }]
                  }
                : {})
            })
          }
          yield* store.putArtifact(run, "config/job.yaml", bytes("a: 1\n"))
          yield* store.putArtifact(run, "model.txt", bytes("weights"))
          yield* store.endRun(run.runId, "FINISHED", 1_700_000_009_999)

          const python = yield* readBack(under, [experimentName])
          const mine = yield* expectedRun(store, run.runId, keys)
          const theirs = python[experimentName]!
          expect(theirs.experiment).toEqual(experiment)
          expect(Object.keys(theirs.runs)).toEqual([run.runId])
          const pyRun = theirs.runs[run.runId]!
          expect(pyRun.info).toEqual({ ...mine.info, status: "FINISHED", endTime: 1_700_000_009_999 })
          expect(pyRun.info).toEqual({ ...run, status: "FINISHED", endTime: 1_700_000_009_999 })
          expect(pyRun.params).toEqual({ lr: "0.001", optimizer: "adam" })
          expect(pyRun.tags).toEqual({
            "job.kind": "tuning",
            "mlflow.user": "alice",
            host: "box",
            "mlflow.runName": "trial-1"
          })
          expect(pyRun.latest).toEqual({ loss: "NaN", acc: 2 / 100, lr: 3 / 100 })
          expect(pyRun.latest).toEqual(mine.latest)
          for (const key of keys) {
            const logged = metrics
              .filter((m) => m.key === key)
              .map((m) => ({ key, value: asPython(m.value), step: m.step, timestamp: m.timestamp }))
            expect(pyRun.history[key]).toEqual(logged)
            expect(mine.history[key]).toEqual(logged)
          }
          expect(pyRun.artifacts).toEqual([
            { path: "config", isDir: true, fileSize: null },
            { path: "config/job.yaml", isDir: false, fileSize: 5 },
            { path: "model.txt", isDir: false, fileSize: 7 }
          ])
          expect(pyRun.artifacts).toEqual(mine.artifacts)
        }),
      90_000
    )

    it.live(
      "reads and appends to what Python wrote, and Python still reads everything",
      () =>
        Effect.gen(function* () {
          const under = yield* open()
          const { store } = under
          const pyName = uniqueName("py-exp")
          const tsName = uniqueName("ts-exp")
          const created = yield* Effect.promise(() =>
            pythonJson<{ experimentId: string; runId: string }>(
              `
import json, sys
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param, RunTag
client = MlflowClient(tracking_uri=sys.argv[1])
exp_id = client.create_experiment(sys.argv[2])
run = client.create_run(exp_id, run_name="py-run", tags={"origin": "python"}, start_time=1700000000000)
rid = run.info.run_id
client.log_batch(rid, metrics=[Metric("loss", 1.0 / (i + 1), 1700000000100 + i, i) for i in range(10)],
                 params=[Param("lr", "0.1")], tags=[RunTag("k", "v")])
client.log_text(rid, "hello", "notes/hello.txt")
client.set_terminated(rid, "FINISHED", end_time=1700000000999)
print(json.dumps({"experimentId": exp_id, "runId": rid}))
`,
              [under.oracleUri, pyName],
              { cwd: under.cwd }
            )
          )
          const pyExperiment = yield* store.getOrCreateExperiment(pyName)
          expect(pyExperiment.experimentId).toBe(created.experimentId)
          const pyRun = yield* store.getRun(created.runId)
          expect(pyRun.info).toMatchObject({
            runName: "py-run",
            status: "FINISHED",
            startTime: 1_700_000_000_000,
            endTime: 1_700_000_000_999
          })
          expect(pyRun.params).toEqual([{ key: "lr", value: "0.1" }])
          expect(pyRun.latestMetrics).toEqual([{ key: "loss", value: 0.1, timestamp: 1_700_000_000_109, step: 9 }])
          expect((yield* store.getMetricHistory(created.runId, "loss")).map((m) => m.step)).toEqual([
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9
          ])
          expect(yield* store.listArtifacts(pyRun.info)).toEqual([
            { path: "notes", isDir: true, fileSize: null },
            { path: "notes/hello.txt", isDir: false, fileSize: 5 }
          ])
          expect(text(yield* store.getArtifact(pyRun.info, "notes/hello.txt"))).toBe("hello")
          // Params written by Python are write-once for us too.
          const conflict = yield* Effect.flip(store.logBatch(created.runId, { params: [{ key: "lr", value: "0.2" }] }))
          expect(conflict.reason).toContain("lr")

          const ourRun = yield* store.createRun({
            experimentId: pyExperiment.experimentId,
            runName: "ts-run",
            userId: "bob",
            startTime: 1_700_000_001_000,
            tags: []
          })
          yield* store.logBatch(ourRun.runId, {
            metrics: [
              { key: "loss", value: 0.5, timestamp: 1_700_000_001_100, step: 0 },
              { key: "loss", value: 0.25, timestamp: 1_700_000_001_200, step: 1 }
            ],
            params: [{ key: "lr", value: "0.2" }]
          })
          yield* store.endRun(ourRun.runId, "FAILED", 1_700_000_001_999)
          const tsExperiment = yield* store.getOrCreateExperiment(tsName)
          const tsRun: RunInfo = yield* store.createRun({
            experimentId: tsExperiment.experimentId,
            runName: "ts-only",
            userId: "bob",
            startTime: 1_700_000_002_000,
            tags: [{ key: "t", value: "1" }]
          })
          yield* store.putArtifact(tsRun, "a/b.txt", bytes("b"))

          const python = yield* readBack(under, [pyName, tsName])
          expect(python[pyName]!.experiment).toEqual(pyExperiment)
          const theirs = python[pyName]!.runs
          expect(Object.keys(theirs)).toEqual([created.runId, ourRun.runId])
          expect(theirs[created.runId]).toMatchObject({
            info: { runName: "py-run", status: "FINISHED", userId: expect.any(String) },
            params: { lr: "0.1" },
            tags: { origin: "python", k: "v", "mlflow.runName": "py-run" },
            latest: { loss: 0.1 },
            artifacts: [
              { path: "notes", isDir: true, fileSize: null },
              { path: "notes/hello.txt", isDir: false, fileSize: 5 }
            ]
          })
          expect(theirs[created.runId]!.history.loss).toHaveLength(10)
          expect(theirs[ourRun.runId]).toEqual(yield* expectedRun(store, ourRun.runId, ["loss"]))
          expect(theirs[ourRun.runId]!.info).toMatchObject({ status: "FAILED", endTime: 1_700_000_001_999 })
          expect(python[tsName]!.experiment).toEqual(tsExperiment)
          expect(python[tsName]!.runs[tsRun.runId]).toEqual(yield* expectedRun(store, tsRun.runId, []))
          expect(python[tsName]!.runs[tsRun.runId]!.artifacts).toEqual([
            { path: "a", isDir: true, fileSize: null },
            { path: "a/b.txt", isDir: false, fileSize: 1 }
          ])
        }),
      90_000
    )
  })
}
