import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import {
  defaultMlflowConfig,
  displayUri,
  Job,
  LogCapture,
  Logger,
  MemoryTracking,
  Mlflow,
  MlflowValidationError,
  makeMemoryStore,
  NoActiveRunError,
  runJob,
  ServiceStartError,
  statusFromExit,
  TrackingError,
  type TrackingStore
} from "../../src/index.js"
import { describeInterop, pythonJson } from "../harness/python.js"

const withMemory = <A, E>(effect: Effect.Effect<A, E, Mlflow | MemoryTracking>) =>
  effect.pipe(Effect.provide(Mlflow.layerTest.pipe(Layer.provideMerge(MemoryTracking.layer))))

const onlyRun = Effect.map(MemoryTracking.runs, (runs) => {
  expect(runs).toHaveLength(1)
  return runs[0]!
})

describe("statusFromExit", () => {
  it("maps success, failure, defect and interruption to MLflow statuses", () => {
    expect(statusFromExit(Exit.succeed(1))).toBe("FINISHED")
    expect(statusFromExit(Exit.fail("no"))).toBe("FAILED")
    expect(statusFromExit(Exit.die(new Error("bug")))).toBe("FAILED")
    expect(statusFromExit(Exit.failCause(Cause.interrupt()))).toBe("KILLED")
  })
})

describe("displayUri", () => {
  it("removes credentials and keeps everything else", () => {
    expect(displayUri("https://ana:s3cret@mlflow.example.com:5000/path")).toBe("https://mlflow.example.com:5000/path")
    expect(displayUri("sqlite:///mlflow.db")).toBe("sqlite:///mlflow.db")
  })
})

describe("Mlflow runs", () => {
  it.effect("a run ends with the status of its scope: FINISHED, FAILED, KILLED", () =>
    withMemory(
      Effect.gen(function* () {
        const mlflow = yield* Mlflow
        yield* mlflow.withRun({ name: "ok" }, () => Effect.void)
        yield* Effect.exit(mlflow.withRun({ name: "failed" }, () => Effect.fail("nope")))
        const fiber = yield* Effect.forkChild(mlflow.withRun({ name: "killed" }, () => Effect.never))
        yield* Effect.repeat(MemoryTracking.runs, { until: (runs) => runs.length === 3 })
        yield* Fiber.interrupt(fiber)
        const runs = yield* MemoryTracking.runs
        expect(runs.map((run) => [run.info.runName, run.info.status])).toEqual([
          ["ok", "FINISHED"],
          ["failed", "FAILED"],
          ["killed", "KILLED"]
        ])
        for (const run of runs) expect(run.info.endTime).toBeGreaterThanOrEqual(run.info.startTime)
      })
    )
  )

  it.effect("a run inside another is its child (mlflow.parentRunId), and currentRun follows the fiber", () =>
    withMemory(
      Effect.gen(function* () {
        const mlflow = yield* Mlflow
        const ids = yield* mlflow.withRun({ name: "parent" }, (parent) =>
          Effect.gen(function* () {
            const child = yield* mlflow.withRun({ name: "child" }, (child) =>
              Effect.map(Mlflow.currentRun, (current) => {
                expect(current.info.runId).toBe(child.info.runId)
                return child.info.runId
              })
            )
            expect((yield* Mlflow.currentRun).info.runId).toBe(parent.info.runId)
            return { parent: parent.info.runId, child }
          })
        )
        const runs = yield* MemoryTracking.runs
        const child = runs.find((run) => run.info.runId === ids.child)!
        expect(child.tags).toContainEqual({ key: "mlflow.parentRunId", value: ids.parent })
        const parent = runs.find((run) => run.info.runId === ids.parent)!
        expect(parent.tags.map((tag) => tag.key)).not.toContain("mlflow.parentRunId")
      })
    )
  )

  it.effect("currentRun outside any run fails with NoActiveRunError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Mlflow.currentRun)
      assert.instanceOf(error, NoActiveRunError)
      expect(error.message).toMatch(/no MLflow run is active/)
    })
  )

  it.effect("description, tags and params of the run config are recorded at creation", () =>
    withMemory(
      Effect.gen(function* () {
        const mlflow = yield* Mlflow
        yield* mlflow.withRun(
          { name: "configured", description: "what it does", tags: { team: "ml" }, params: { alpha: 0.5, deep: true } },
          () => Effect.void
        )
        const run = yield* onlyRun
        expect(run.tags).toEqual(
          expect.arrayContaining([
            { key: "mlflow.note.content", value: "what it does" },
            { key: "team", value: "ml" },
            { key: "mlflow.runName", value: "configured" }
          ])
        )
        expect(run.params).toEqual([
          { key: "alpha", value: "0.5" },
          { key: "deep", value: "true" }
        ])
      })
    )
  )

  it.effect("an invalid run config is refused before any run exists", () =>
    withMemory(
      Effect.gen(function* () {
        const mlflow = yield* Mlflow
        const error = yield* Effect.flip(mlflow.withRun({ name: "bad", params: { "../escape": 1 } }, () => Effect.void))
        assert.instanceOf(error, MlflowValidationError)
        expect(error.message).toContain("../escape")
        expect(yield* MemoryTracking.runs).toEqual([])
      })
    )
  )

  it.effect("bad keys and values fail the call that logged them, naming the rule", () =>
    withMemory(
      Effect.gen(function* () {
        const mlflow = yield* Mlflow
        yield* mlflow.withRun({ name: "validation" }, (run) =>
          Effect.gen(function* () {
            const badKey = yield* Effect.flip(run.logMetric("loss?", 1))
            expect(badKey.message).toMatch(/alphanumerics/)
            const longParam = yield* Effect.flip(run.logParam("p", "x".repeat(6001)))
            expect(longParam.message).toMatch(/at most 6000 characters/)
            const longTag = yield* Effect.flip(run.setTag("t", "x".repeat(8001)))
            expect(longTag.message).toMatch(/at most 8000 characters/)
            const badStep = yield* Effect.flip(run.logMetric("loss", 1, { step: 1.5 }))
            expect(badStep.message).toMatch(/integers/)
            yield* run.logParam("p", "first")
            const rewrite = yield* Effect.flip(run.logParam("p", "second"))
            assert.instanceOf(rewrite, TrackingError)
            expect(rewrite.message).toMatch(/"first"/)
            yield* run.logParam("p", "first")
          })
        )
        const run = yield* onlyRun
        expect(run.params).toEqual([{ key: "p", value: "first" }])
        expect(run.info.status).toBe("FINISHED")
      })
    )
  )

  it.effect("metric points are batched: written when 1000 are pending and when the run ends, in order", () =>
    withMemory(
      Effect.gen(function* () {
        const mlflow = yield* Mlflow
        const { store } = yield* MemoryTracking
        const runId = yield* mlflow.withRun({ name: "batched" }, (run) =>
          Effect.gen(function* () {
            for (let step = 0; step < 2500; step++)
              yield* run.logMetric("loss", 1 / (step + 1), { step, timestamp: 1000 + step })
            const written = yield* store.getMetricHistory(run.info.runId, "loss")
            expect(written).toHaveLength(2000)
            return run.info.runId
          })
        )
        const history = yield* store.getMetricHistory(runId, "loss")
        expect(history).toHaveLength(2500)
        expect(history.map((point) => point.step)).toEqual(Array.from({ length: 2500 }, (_, step) => step))
      })
    )
  )

  it.effect("a flush that fails or is interrupted keeps its points; the next one sends only those not written", () =>
    Effect.gen(function* () {
      const memory = makeMemoryStore()
      // A store whose writes can be made to fail or hang, recording the size of every batch it is given.
      let mode: "ok" | "fail second" | "hang" = "ok"
      const batches: Array<number> = []
      const flaky: TrackingStore = {
        ...memory,
        logBatch: (runId, batch) =>
          Effect.suspend(() => {
            batches.push(batch.metrics?.length ?? 0)
            if (mode === "hang") return Effect.never
            if (mode === "fail second" && batches.length === 2) {
              return Effect.fail(new TrackingError({ operation: "logBatch", uri: "flaky://", reason: "down" }))
            }
            return memory.logBatch(runId, batch)
          })
      }
      const steps = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)
      const program = Effect.gen(function* () {
        const mlflow = yield* Mlflow
        return yield* mlflow.withRun({ name: "flaky" }, (run) =>
          Effect.gen(function* () {
            const history = Effect.map(memory.getMetricHistory(run.info.runId, "loss"), (points) =>
              points.map((point) => point.step)
            )
            const log = (from: number, to: number) =>
              Effect.forEach(steps(from, to), (step) => run.logMetric("loss", step, { step, timestamp: step }), {
                discard: true
              })
            // 999 points pending, one short of a flush. A flush interrupted while its write hangs puts them back.
            yield* log(0, 999)
            mode = "hang"
            const hung = yield* Effect.forkChild(run.flush)
            yield* Effect.repeat(
              Effect.sync(() => batches.length),
              { until: (n) => n === 1 }
            )
            yield* Fiber.interrupt(hung)
            expect(yield* history).toEqual([])
            // The 1000th point flushes all 1000 at once; the next 1000 fail to be written and stay pending.
            mode = "fail second"
            batches.length = 0
            yield* log(999, 1999)
            expect(yield* history).toEqual(steps(0, 1000))
            assert.instanceOf(yield* Effect.flip(log(1999, 2000)), TrackingError)
            expect(yield* history).toEqual(steps(0, 1000))
            // One more point: a flush of 1001 in two batches, the first written, the second failing.
            batches.length = 0
            assert.instanceOf(yield* Effect.flip(log(2000, 2001)), TrackingError)
            expect(batches).toEqual([1000, 1])
            expect(yield* history).toEqual(steps(0, 2000))
            // The next flush sends only the point not written yet.
            mode = "ok"
            batches.length = 0
            yield* run.flush
            expect(batches).toEqual([1])
            expect(yield* history).toEqual(steps(0, 2001))
            return run.info.runId
          })
        )
      })
      const runId = yield* program.pipe(
        Effect.provide(Mlflow.fromStore({ ...defaultMlflowConfig, experiment_name: "flaky" }, flaky))
      )
      expect((yield* memory.getRun(runId)).info.status).toBe("FINISHED")
    })
  )

  it.live("pending metric points are also written within a second while the run is open", () =>
    withMemory(
      Effect.gen(function* () {
        const mlflow = yield* Mlflow
        const { store } = yield* MemoryTracking
        yield* mlflow.withRun({ name: "timed" }, (run) =>
          Effect.gen(function* () {
            yield* run.logMetric("accuracy", 0.9)
            expect(yield* store.getMetricHistory(run.info.runId, "accuracy")).toHaveLength(0)
            yield* Effect.sleep("1500 millis")
            expect(yield* store.getMetricHistory(run.info.runId, "accuracy")).toHaveLength(1)
          })
        )
      })
    )
  )

  it.effect("artifacts: files, text and JSON under the run's artifact root; other runs can be tagged by id", () =>
    withMemory(
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "autogen-mlflow-"))
        const file = join(dir, "report.csv")
        writeFileSync(file, "a,b\n1,2\n")
        const mlflow = yield* Mlflow
        const { store } = yield* MemoryTracking
        const runId = yield* mlflow.withRun({ name: "artifacts" }, (run) =>
          Effect.gen(function* () {
            yield* run.logArtifact(file)
            yield* run.logArtifact(file, "reports/daily")
            yield* run.logText("hello", "notes/hello.txt")
            yield* run.logJson({ a: [1, 2] }, "data.json")
            const missing = yield* Effect.flip(run.logArtifact(join(dir, "missing.txt")))
            assert.instanceOf(missing, TrackingError)
            return run.info.runId
          })
        )
        yield* mlflow.setRunTags(runId, { reviewed: "yes" })
        const run = yield* onlyRun
        const listing = yield* store.listArtifacts(run.info)
        expect(listing.filter((entry) => !entry.isDir).map((entry) => entry.path)).toEqual([
          "data.json",
          "notes/hello.txt",
          "report.csv",
          "reports/daily/report.csv"
        ])
        expect(Buffer.from((yield* store.readArtifact(runId, "data.json"))!).toString()).toBe(
          '{\n  "a": [\n    1,\n    2\n  ]\n}\n'
        )
        expect(run.tags).toContainEqual({ key: "reviewed", value: "yes" })
      })
    )
  )
})

describe("Mlflow.layer", () => {
  it.effect("memory:// and none keep runs in the process; [START]/[STOP] Mlflow are logged", () =>
    Effect.gen(function* () {
      for (const uri of ["memory://", "none"]) {
        const experiment = yield* Effect.gen(function* () {
          const mlflow = yield* Mlflow
          yield* mlflow.withRun({ name: "r" }, () => Effect.void)
          const data = yield* mlflow.store.getRun(
            yield* mlflow.withRun({ name: "s" }, (run) => Effect.succeed(run.info.runId))
          )
          expect(data.info.status).toBe("FINISHED")
          return mlflow.experiment.name
        }).pipe(Effect.provide(Mlflow.layer({ tracking_uri: uri, experiment_name: "memory-exp" })))
        expect(experiment).toBe("memory-exp")
      }
      const lines = (yield* LogCapture.lines).map((line) => line.message)
      expect(lines.filter((line) => line.startsWith("[START] Mlflow"))).toHaveLength(2)
      expect(lines.filter((line) => line === "[STOP] Mlflow")).toHaveLength(2)
    }).pipe(Effect.provide(Logger.layerTest), Effect.provide(LogCapture.layer))
  )

  it.effect("an unsupported URI is a ServiceStartError naming it without credentials and the URIs that work", () =>
    Effect.gen(function* () {
      const start = (uri: string) => Effect.flip(Layer.build(Mlflow.layer({ tracking_uri: uri })).pipe(Effect.scoped))
      const unknown = yield* start("postgresql://ana:pw@db/mlflow")
      assert.instanceOf(unknown, ServiceStartError)
      expect(unknown.message).toBe(
        "Mlflow service could not start: tracking URI postgresql://db/mlflow is not supported: use sqlite:///path.db, http(s)://host:port, memory:// or none"
      )
      const malformed = yield* start("http//mlflow.example.com")
      expect(malformed.message).toMatch(/http\/\/mlflow\.example\.com is not supported/)
    })
  )

  it.effect("a broken SQLite file is a ServiceStartError, not a crash", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "autogen-mlflow-"))
      writeFileSync(
        join(dir, "broken.db"),
        "this is not a database, just text that is long enough to look like a header"
      )
      const error = yield* Effect.flip(
        Layer.build(
          Mlflow.layer({ tracking_uri: `sqlite:///${join(dir, "broken.db")}`, artifact_root: join(dir, "mlruns") })
        ).pipe(Effect.scoped)
      )
      assert.instanceOf(error, ServiceStartError)
      expect(error.service).toBe("Mlflow")
    })
  )
})

/** A job that logs the interop fixture: params, tags, 3 metrics × 100 steps and an artifact. */
class InteropJob extends Job<InteropJob>()("InteropJob", { alpha: Schema.Finite, label: Schema.String }) {
  run() {
    const job = this
    return Effect.gen(function* () {
      const run = yield* Mlflow.currentRun
      yield* run.setTags({ stage: "interop", "team.name": "ml" })
      for (let step = 0; step < 100; step++) {
        yield* run.logMetrics(
          { loss: 1 / (step + 1), accuracy: step / 100, lr: job.alpha * 0.99 ** step },
          { step, timestamp: 1_700_000_000_000 + step * 10 }
        )
      }
      yield* run.logText("model summary", "model/summary.txt")
      return { runId: run.info.runId }
    })
  }
}

interface PythonView {
  readonly experiment: { readonly id: string; readonly name: string; readonly artifact_location: string }
  readonly run: {
    readonly name: string
    readonly status: string
    readonly start_time: number
    readonly end_time: number
    readonly user_id: string
    readonly artifact_uri: string
    readonly params: Record<string, string>
    readonly tags: Record<string, string>
    readonly metrics: Record<string, number>
  }
  readonly histories: Record<string, ReadonlyArray<readonly [number, number, number]>>
  readonly artifacts: ReadonlyArray<string>
}

const readWithPython = `
import json, sys
from mlflow.tracking import MlflowClient
uri, run_id = sys.argv[1], sys.argv[2]
client = MlflowClient(tracking_uri=uri)
run = client.get_run(run_id)
experiment = client.get_experiment(run.info.experiment_id)
def walk(path=None):
    out = []
    for entry in client.list_artifacts(run_id, path):
        out.append(entry.path + ("/" if entry.is_dir else ""))
        if entry.is_dir:
            out.extend(walk(entry.path))
    return out
print(json.dumps({
    "experiment": {"id": experiment.experiment_id, "name": experiment.name, "artifact_location": experiment.artifact_location},
    "run": {"name": run.info.run_name, "status": run.info.status, "start_time": run.info.start_time,
            "end_time": run.info.end_time, "user_id": run.info.user_id, "artifact_uri": run.info.artifact_uri,
            "params": run.data.params, "tags": run.data.tags, "metrics": run.data.metrics},
    "histories": {key: [[m.step, m.timestamp, m.value] for m in client.get_metric_history(run_id, key)]
                  for key in ("loss", "accuracy", "lr")},
    "artifacts": sorted(walk()),
}))
`

describeInterop("a job's run on the embedded store, read back by Python mlflow 3.18.0", () => {
  it.effect("MlflowClient returns the same experiment, run, params, tags, metric histories and artifacts", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "autogen-interop-"))
      const uri = `sqlite:///${join(dir, "mlflow.db")}`
      const job = new InteropJob({
        alpha: 0.5,
        label: "first",
        logger_service: { sink: join(dir, "job.log") },
        alerts_service: { enable: false },
        mlflow_service: { tracking_uri: uri, artifact_root: join(dir, "mlruns"), experiment_name: "interop" }
      })
      const { runId } = yield* runJob(job)
      const view = yield* Effect.promise(() => pythonJson<PythonView>(readWithPython, [uri, runId]))
      expect(view.experiment).toEqual({ id: "1", name: "interop", artifact_location: join(dir, "mlruns", "1") })
      expect(view.run).toMatchObject({
        name: "InteropJob",
        status: "FINISHED",
        artifact_uri: join(dir, "mlruns", "1", runId, "artifacts")
      })
      expect(view.run.end_time).toBeGreaterThanOrEqual(view.run.start_time)
      expect(view.run.params).toMatchObject({
        KIND: "InteropJob",
        alpha: "0.5",
        label: "first",
        "alerts_service.enable": "false"
      })
      expect(view.run.tags).toMatchObject({
        stage: "interop",
        "team.name": "ml",
        "job.kind": "InteropJob",
        "mlflow.runName": "InteropJob",
        "mlflow.source.type": "LOCAL"
      })
      expect(view.run.metrics).toEqual({ loss: 1 / 100, accuracy: 0.99, lr: 0.5 * 0.99 ** 99 })
      for (const [key, value] of [
        ["loss", (step: number) => 1 / (step + 1)],
        ["accuracy", (step: number) => step / 100],
        ["lr", (step: number) => 0.5 * 0.99 ** step]
      ] as const) {
        expect(view.histories[key]).toEqual(
          Array.from({ length: 100 }, (_, step) => [step, 1_700_000_000_000 + step * 10, value(step)])
        )
      }
      expect(view.artifacts).toEqual([
        "job/",
        "job/config.json",
        "logs/",
        "logs/job.log",
        "model/",
        "model/summary.txt"
      ])
    })
  )
})
