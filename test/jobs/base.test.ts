import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import {
  AlertRecorder,
  Alerts,
  ConfigError,
  decodeJob,
  flattenConfig,
  Job,
  LogCapture,
  Logger,
  MemoryTracking,
  Mlflow,
  runJob,
  ServiceStartError
} from "../../src/index.js"
import { webhookServer } from "../fixtures/webhook-server.js"
import { freePort } from "../harness/net.js"

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

class TrainingJob extends Job<TrainingJob>()("TrainingJob", {
  epochs: Schema.Int,
  learning_rate: Schema.Finite,
  layers: Schema.Array(Schema.Int)
}) {
  run() {
    const job = this
    return Effect.gen(function* () {
      const run = yield* Mlflow.currentRun
      const a = job.epochs * 2
      for (let step = 0; step < job.epochs; step++) {
        yield* run.logMetric("loss", 1 / (step + 1), { step })
      }
      yield* Effect.logInfo(`trained ${job.KIND}`)
      const b = { runId: run.info.runId, lr: job.learning_rate }
      return { a, b }
    })
  }
}

class JobFailed extends Schema.TaggedError<JobFailed>()("JobFailed", { reason: Schema.String }) {}

class FailingJob extends Job<FailingJob>()("FailingJob") {
  run() {
    return Effect.gen(function* () {
      yield* Effect.logInfo("about to fail")
      return yield* new JobFailed({ reason: "boom" })
    })
  }
}

class SleepingJob extends Job<SleepingJob>()("SleepingJob") {
  run() {
    return Effect.andThen(Effect.logInfo("sleeping"), Effect.never)
  }
}

const testServices = { logger: Logger.layerTest, alerts: Alerts.layerTest, mlflow: Mlflow.layerTest }
const recorders = Layer.mergeAll(LogCapture.layer, AlertRecorder.layer, MemoryTracking.layer)
const training = new TrainingJob({ epochs: 3, learning_rate: 0.1, layers: [8, 4] })

/** The `[START]`/`[STOP]` lines, without their config summaries. */
const lifecycleLines = Effect.map(LogCapture.lines, (lines) =>
  lines.filter((line) => /^\[(START|STOP)\]/.test(line.message)).map((line) => line.message.split(":")[0])
)

const allStartStop = [
  "[START] Logger",
  "[START] Alerts",
  "[START] Mlflow",
  "[STOP] Mlflow",
  "[STOP] Alerts",
  "[STOP] Logger"
]

describe("Job definition", () => {
  it("fills KIND and the three service configs with defaults", () => {
    expect(training.KIND).toBe("TrainingJob")
    expect(TrainingJob.KIND).toBe("TrainingJob")
    expect(training.logger_service).toEqual({ sink: "stderr", level: "DEBUG", format: "pretty", colorize: true })
    expect(training.alerts_service).toEqual({
      enable: true,
      app_name: "autogen-team",
      timeout: 5,
      on_success: false,
      channels: [{ type: "desktop" }]
    })
    expect(training.mlflow_service).toEqual({
      tracking_uri: "sqlite:///mlflow.db",
      artifact_root: "./mlruns",
      experiment_name: "autogen-team",
      retry_budget: 30,
      request_timeout: 10
    })
  })

  it("cannot instantiate the base: abstract for tsc, TypeError at run time", () => {
    const Base = Job<TrainingJob>()("Base", {})
    // @ts-expect-error the class Job returns is abstract
    const instantiate = () => new Base({})
    expect(instantiate).toThrow(TypeError)
    expect(instantiate).toThrow(/Base is abstract/)
  })

  it("refuses a subclass without run, for tsc and at run time", () => {
    class NoRun extends Job<NoRun>()("NoRun") {}
    expect(() => new NoRun({})).toThrow(/must implement run\(\)/)
    const runWithoutRun = (job: NoRun) =>
      // @ts-expect-error a job kind without run() is not a job
      runJob(job)
    expect(runWithoutRun).toBeTypeOf("function")
  })

  it("is immutable at type level and at run time, deeply", () => {
    const mutate = () => {
      // @ts-expect-error fields are readonly
      training.epochs = 10
    }
    const mutateNested = () => {
      // @ts-expect-error nested service configs are readonly too
      training.logger_service.level = "INFO"
    }
    const mutateList = () => {
      // @ts-expect-error lists are readonly
      training.layers.push(1)
    }
    expect(mutate).toThrow(TypeError)
    expect(mutateNested).toThrow(TypeError)
    expect(mutateList).toThrow(TypeError)
    expect(training.epochs).toBe(3)
    expect(training.logger_service.level).toBe("DEBUG")
    expect(training.layers).toEqual([8, 4])
  })
})

describe("decodeJob", () => {
  const decode = decodeJob(TrainingJob)
  const valid = { epochs: 2, learning_rate: 0.5, layers: [3] }

  it.effect("decodes a valid config into a frozen instance, nested service configs completed", () =>
    Effect.gen(function* () {
      const job = yield* decode({ ...valid, KIND: "TrainingJob", logger_service: { level: "INFO" } })
      assert.instanceOf(job, TrainingJob)
      expect(job.logger_service).toEqual({ sink: "stderr", level: "INFO", format: "pretty", colorize: true })
      expect(Object.isFrozen(job)).toBe(true)
      expect(Object.isFrozen(job.logger_service)).toBe(true)
    })
  )

  const rejects = (input: unknown, path: string, message: RegExp) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decode(input, "confs/training.yaml"))
      assert.instanceOf(error, ConfigError)
      expect(error.source).toBe("confs/training.yaml")
      expect(error.issues.map((issue) => issue.path)).toContain(path)
      expect(error.issues.find((issue) => issue.path === path)?.message).toMatch(message)
      expect(error.message).toContain("confs/training.yaml")
      expect(error.message).toContain(path)
    })

  it.effect("rejects an unknown key with its path", () => rejects({ ...valid, epoch: 2 }, "epoch", /unknown key/))
  it.effect("rejects an unknown nested key with its path", () =>
    rejects({ ...valid, mlflow_service: { trackingUri: "x" } }, "mlflow_service.trackingUri", /unknown key/)
  )
  it.effect("rejects a wrong type with its path", () =>
    rejects({ ...valid, layers: [1, "two"] }, "layers[1]", /number/i)
  )
  it.effect('rejects "1" for a number: nothing is coerced', () =>
    rejects({ ...valid, epochs: "1" }, "epochs", /number/i)
  )
  it.effect("rejects another KIND", () => rejects({ ...valid, KIND: "TuningJob" }, "KIND", /TrainingJob/))
  it.effect("never quotes the value of an unknown key: a misspelled secret stays out of the message", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decode({ ...valid, api_tokn: "sk-live-0123456789" }))
      expect(error.issues).toEqual([{ path: "api_tokn", message: "unknown key" }])
      expect(error.message).not.toContain("sk-live")
    })
  )
  it.effect("reports every issue, not only the first", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decode({ epochs: "1", learning_rate: "x", layers: [], extra: 1 }))
      expect(error.issues.map((issue) => issue.path).sort()).toEqual(["epochs", "extra", "learning_rate"])
    })
  )
})

describe("runJob lifecycle", () => {
  it.effect("starts logger → alerts → mlflow, runs the job inside, stops mlflow → alerts → logger", () =>
    Effect.gen(function* () {
      const locals = yield* runJob(training, testServices)
      const lines = yield* LogCapture.lines
      const messages = lines.map((line) => line.message.split(":")[0])
      expect(yield* lifecycleLines).toEqual(allStartStop)
      // The job's own line is logged between the last start and the first stop, through the same logger.
      const jobLine = messages.indexOf("trained TrainingJob")
      expect(jobLine).toBeGreaterThan(messages.indexOf("[START] Mlflow"))
      expect(jobLine).toBeLessThan(messages.indexOf("[STOP] Mlflow"))
      expect(lines.filter((line) => line.message.startsWith("[")).every((line) => line.level === "DEBUG")).toBe(true)
      // run returns exactly the locals it defined.
      expect(Object.keys(locals)).toEqual(["a", "b"])
      expect(locals.a).toBe(6)
    }).pipe(Effect.provide(recorders))
  )

  it.effect("the job's run is the MLflow run: params from its config, kind tag, metrics, status, config artifact", () =>
    Effect.gen(function* () {
      const locals = yield* runJob(training, testServices)
      const [run] = yield* MemoryTracking.runs
      assert.isDefined(run)
      expect(run.info.runId).toBe(locals.b.runId)
      expect(run.info.status).toBe("FINISHED")
      expect(run.info.endTime).toBeGreaterThanOrEqual(run.info.startTime)
      expect(run.info.runName).toBe("TrainingJob")
      const params = Object.fromEntries(run.params.map((param) => [param.key, param.value]))
      expect(params).toMatchObject({
        KIND: "TrainingJob",
        epochs: "3",
        learning_rate: "0.1",
        layers: "[8,4]",
        "logger_service.level": "DEBUG",
        "mlflow_service.tracking_uri": "sqlite:///mlflow.db"
      })
      const tags = Object.fromEntries(run.tags.map((tag) => [tag.key, tag.value]))
      expect(tags).toMatchObject({
        "job.kind": "TrainingJob",
        "mlflow.runName": "TrainingJob",
        "mlflow.source.type": "LOCAL"
      })
      expect(tags["mlflow.user"]).toBeTruthy()
      expect(tags.host).toBeTruthy()
      const { store } = yield* MemoryTracking
      const history = yield* store.getMetricHistory(run.info.runId, "loss")
      expect(history.map((point) => [point.step, point.value])).toEqual([
        [0, 1],
        [1, 0.5],
        [2, 1 / 3]
      ])
      const config = yield* store.readArtifact(run.info.runId, "job/config.json")
      assert.isDefined(config)
      expect(JSON.parse(Buffer.from(config).toString())).toMatchObject({
        KIND: "TrainingJob",
        epochs: 3,
        layers: [8, 4]
      })
    }).pipe(Effect.provide(recorders))
  )

  it.effect("a job failure is the error of the effect, unchanged, and the run ends FAILED", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(runJob(new FailingJob({}), testServices))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        assert.isTrue(Option.isSome(error))
        if (Option.isSome(error)) {
          assert.instanceOf(error.value, JobFailed)
          expect((error.value as JobFailed).reason).toBe("boom")
        }
      }
      expect(yield* lifecycleLines).toEqual(allStartStop)
      const [run] = yield* MemoryTracking.runs
      expect(run?.info.status).toBe("FAILED")
      expect(run?.info.endTime).toBeTypeOf("number")
    }).pipe(Effect.provide(recorders))
  )

  it.effect("a job failure is logged at ERROR through the job's logger, before the services stop", () =>
    Effect.gen(function* () {
      yield* Effect.exit(runJob(new FailingJob({}), testServices))
      const lines = yield* LogCapture.lines
      const failure = lines.findIndex((line) => line.level === "ERROR" && line.message.startsWith("FailingJob failed"))
      expect(failure).toBeGreaterThan(-1)
      expect(failure).toBeLessThan(lines.findIndex((line) => line.message === "[STOP] Mlflow"))
    }).pipe(Effect.provide(recorders))
  )

  it.effect("onRunStart receives the job's run as soon as it is open", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const locals = yield* runJob(training, { ...testServices, onRunStart: (info) => seen.push(info.runId) })
      expect(seen).toEqual([locals.b.runId])
    }).pipe(Effect.provide(recorders))
  )

  it("a job failure reaches Effect.runPromise's rejection", async () => {
    const program = runJob(new FailingJob({}), testServices).pipe(Effect.provide(recorders))
    const rejection = await Effect.runPromise(program).then(
      () => undefined,
      (error: unknown) => error
    )
    assert.instanceOf(rejection, JobFailed)
    expect((rejection as JobFailed).reason).toBe("boom")
  })

  it.effect("a defect ends the run FAILED and is kept as the defect", () =>
    Effect.gen(function* () {
      class DyingJob extends Job<DyingJob>()("DyingJob") {
        run() {
          return Effect.die(new RangeError("bug"))
        }
      }
      const exit = yield* Effect.exit(runJob(new DyingJob({}), testServices))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      const [run] = yield* MemoryTracking.runs
      expect(run?.info.status).toBe("FAILED")
      expect(yield* lifecycleLines).toEqual(allStartStop)
    }).pipe(Effect.provide(recorders))
  )

  it.effect("interruption stops every service once and ends the run KILLED with an end time", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(runJob(new SleepingJob({}), testServices))
      // Wait until the job itself runs: its run is open then.
      yield* Effect.repeat(LogCapture.lines, { until: (lines) => lines.some((line) => line.message === "sleeping") })
      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      expect(yield* lifecycleLines).toEqual(allStartStop)
      const [run] = yield* MemoryTracking.runs
      expect(run?.info.status).toBe("KILLED")
      expect(run?.info.endTime).toBeTypeOf("number")
      // Said through the job's logger, before its services stopped.
      const messages = (yield* LogCapture.lines).map((line) => line.message)
      expect(messages.indexOf("SleepingJob interrupted")).toBeGreaterThan(messages.indexOf("sleeping"))
      expect(messages.indexOf("SleepingJob interrupted")).toBeLessThan(messages.indexOf("[STOP] Mlflow"))
    }).pipe(Effect.provide(recorders))
  )
})

describe("runJob fault injection", () => {
  const failingStart = <I, S>(tag: Context.Key<I, S>, service: string) =>
    Layer.effect(
      tag,
      Effect.andThen(
        Effect.logDebug(`[START] ${service}: failing`),
        Effect.fail(new ServiceStartError({ service, reason: "injected" }))
      )
    )

  it.effect("a logger that cannot start: nothing else starts, the start error is the result", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "autogen-base-"))
      const blocker = join(dir, "file")
      writeFileSync(blocker, "x")
      const error = yield* Effect.flip(
        runJob(training, {
          logger: Logger.layer({ ...training.logger_service, sink: join(blocker, "job.log") }),
          alerts: Alerts.layerTest,
          mlflow: Mlflow.layerTest
        })
      )
      assert.instanceOf(error, ServiceStartError)
      expect((error as ServiceStartError).service).toBe("Logger")
      expect(error.message).toContain(join(blocker, "job.log"))
      expect(yield* AlertRecorder.alerts).toEqual([])
      expect(yield* MemoryTracking.runs).toEqual([])
    }).pipe(Effect.provide(recorders))
  )

  it.effect("alerts failing to start: the logger is stopped once, mlflow never starts", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(runJob(training, { ...testServices, alerts: failingStart(Alerts, "Alerts") }))
      expect(error).toMatchObject({ _tag: "ServiceStartError", service: "Alerts" })
      expect(yield* lifecycleLines).toEqual(["[START] Logger", "[START] Alerts", "[STOP] Logger"])
      expect(yield* MemoryTracking.runs).toEqual([])
    }).pipe(Effect.provide(recorders))
  )

  it.effect("mlflow failing to start (real: unsupported URI): alerts then logger stopped once each", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        runJob(training, {
          ...testServices,
          mlflow: Mlflow.layer({ tracking_uri: "ftp://user:secret@example.invalid/x", experiment_name: "x" })
        })
      )
      assert.instanceOf(error, ServiceStartError)
      expect((error as ServiceStartError).service).toBe("Mlflow")
      expect(error.message).toContain("ftp://example.invalid/x")
      expect(error.message).not.toContain("secret")
      expect(yield* lifecycleLines).toEqual(["[START] Logger", "[START] Alerts", "[STOP] Alerts", "[STOP] Logger"])
    }).pipe(Effect.provide(recorders))
  )

  it.live(
    "an unreachable tracking server fails the start within its retry budget (+1 s), naming the URI without credentials",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(() => freePort())
        const started = Date.now()
        const error = yield* Effect.flip(
          runJob(training, {
            ...testServices,
            mlflow: Mlflow.layer({
              tracking_uri: `http://ana:secret@127.0.0.1:${port}`,
              experiment_name: "x",
              retry_budget: 1.5
            })
          })
        )
        const elapsed = Date.now() - started
        assert.instanceOf(error, ServiceStartError)
        expect((error as ServiceStartError).service).toBe("Mlflow")
        expect(error.message).toContain(
          `getOrCreateExperiment failed on http://127.0.0.1:${port}: cannot connect (ECONNREFUSED)`
        )
        expect(error.message).toContain("the retry budget (mlflow_service.retry_budget: 1.5 s)")
        expect(error.message).not.toContain("secret")
        expect(elapsed).toBeLessThan(1500 + 1000)
        expect(yield* lifecycleLines).toEqual(["[START] Logger", "[START] Alerts", "[STOP] Alerts", "[STOP] Logger"])
        expect(yield* MemoryTracking.runs).toEqual([])
      }).pipe(Effect.provide(recorders))
  )

  it.effect("a failing stop does not skip later stops, and the job's error stays primary", () =>
    Effect.gen(function* () {
      const alertsFailingOnStop = Layer.effect(
        Alerts,
        Effect.gen(function* () {
          yield* Effect.logDebug("[START] Alerts: breaks on stop")
          yield* Effect.addFinalizer(() =>
            Effect.andThen(Effect.logDebug("[STOP] Alerts"), Effect.die(new Error("stop failed")))
          )
          return Alerts.of({ notify: () => Effect.void, channels: [] })
        })
      )
      const exit = yield* Effect.exit(runJob(new FailingJob({}), { ...testServices, alerts: alertsFailingOnStop }))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const primary = Cause.findErrorOption(exit.cause)
        assert.isTrue(Option.isSome(primary) && primary.value instanceof JobFailed)
        // The stop failure is not lost: the Cause keeps it beside the job's error.
        assert.isTrue(Cause.hasDies(exit.cause))
        expect(Cause.pretty(exit.cause)).toContain("stop failed")
      }
      expect(yield* lifecycleLines).toEqual(allStartStop)
      const [run] = yield* MemoryTracking.runs
      expect(run?.info.status).toBe("FAILED")
    }).pipe(Effect.provide(recorders))
  )

  it.effect("services are started and stopped exactly once per job", () =>
    Effect.gen(function* () {
      let starts = 0
      let stops = 0
      const counted = Layer.effect(
        Alerts,
        Effect.acquireRelease(
          Effect.sync(() => {
            starts++
            return Alerts.of({ notify: () => Effect.void, channels: [] })
          }),
          () => Effect.sync(() => void stops++)
        )
      )
      yield* runJob(training, { ...testServices, alerts: counted })
      yield* Effect.exit(runJob(new FailingJob({}), { ...testServices, alerts: counted }))
      expect([starts, stops]).toEqual([2, 2])
    }).pipe(Effect.provide(recorders))
  )
})

describe("runJob with the real services", () => {
  it.effect("file sink: START/STOP in order, the job's lines, STOP Logger last; the log file saved with the run", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "autogen-base-"))
      const file = join(dir, "logs", "job.log")
      const job = new TrainingJob({
        epochs: 2,
        learning_rate: 0.1,
        layers: [],
        logger_service: { sink: file, format: "logfmt" },
        alerts_service: { enable: false },
        mlflow_service: { tracking_uri: "memory://" }
      })
      yield* runJob(job, { mlflow: Mlflow.layerTest })
      const lines = readFileSync(file, "utf8").trimEnd().split("\n")
      const lifecycle = lines.map((line) => /message="?(\[(?:START|STOP)\] \w+)/.exec(line)?.[1]).filter(Boolean)
      expect(lifecycle).toEqual(allStartStop)
      expect(lines.at(-1)).toContain("[STOP] Logger")
      expect(lines.some((line) => line.includes("trained TrainingJob"))).toBe(true)
      const [run] = yield* MemoryTracking.runs
      const { store } = yield* MemoryTracking
      const saved = yield* store.readArtifact(run!.info.runId, "logs/job.log")
      expect(Buffer.from(saved!).toString()).toContain("trained TrainingJob")
    }).pipe(Effect.provide(MemoryTracking.layer))
  )
})

describe("concurrency", () => {
  it.effect("two jobs in concurrent fibers get separate runs, params, metrics and log files", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "autogen-base-"))
      const make = (epochs: number, name: string) =>
        new TrainingJob({
          epochs,
          learning_rate: epochs / 10,
          layers: [epochs],
          logger_service: { sink: join(dir, `${name}.log`), format: "json" },
          alerts_service: { enable: false }
        })
      const gate = yield* Deferred.make<void>()
      // Both jobs hold their services open at the same time: each waits for the gate before finishing.
      class GatedJob extends Job<GatedJob>()("GatedJob", { inner: Schema.String, epochs: Schema.Int }) {
        run() {
          const job = this
          return Effect.gen(function* () {
            const run = yield* Mlflow.currentRun
            yield* run.logMetric("epochs", job.epochs)
            yield* Effect.logInfo(`job ${job.inner}`)
            yield* Deferred.await(gate)
            return { runId: run.info.runId }
          })
        }
      }
      const jobs = [make(2, "a"), make(5, "b")].map(
        (job, index) =>
          new GatedJob({
            inner: index === 0 ? "a" : "b",
            epochs: job.epochs,
            logger_service: job.logger_service,
            alerts_service: job.alerts_service
          })
      )
      const fibers = yield* Effect.forEach(jobs, (job) => Effect.forkChild(runJob(job, { mlflow: Mlflow.layerTest })))
      yield* Effect.repeat(MemoryTracking.runs, { until: (runs) => runs.length === 2 })
      yield* Deferred.succeed(gate, undefined)
      const results = yield* Effect.forEach(fibers, Fiber.join)
      expect(new Set(results.map((result) => result.runId)).size).toBe(2)
      const runs = yield* MemoryTracking.runs
      for (const [index, job] of jobs.entries()) {
        const run = runs.find((candidate) => candidate.info.runId === results[index]!.runId)!
        expect(run.params.find((param) => param.key === "inner")?.value).toBe(job.inner)
        expect(run.latestMetrics).toEqual([expect.objectContaining({ key: "epochs", value: job.epochs })])
        const log = readFileSync(join(dir, `${job.inner}.log`), "utf8")
        expect(log).toContain(`job ${job.inner}`)
        expect(log).not.toContain(`job ${job.inner === "a" ? "b" : "a"}`)
      }
    }).pipe(Effect.provide(MemoryTracking.layer))
  )
})

describe("secrets", () => {
  it.effect("Redacted config values are left out of params and masked in the config artifact", () =>
    Effect.gen(function* () {
      class SecretJob extends Job<SecretJob>()("SecretJob", {
        token: Schema.Redacted(Schema.String),
        user: Schema.String
      }) {
        run() {
          return Effect.succeed({})
        }
      }
      const job = new SecretJob({ token: Redacted.make("s3cr3t-value"), user: "ana" })
      expect(flattenConfig(job).map((param) => param.key)).not.toContain("token")
      yield* runJob(job, testServices)
      const [run] = yield* MemoryTracking.runs
      const { store } = yield* MemoryTracking
      const everything =
        JSON.stringify(run) + Buffer.from((yield* store.readArtifact(run!.info.runId, "job/config.json"))!).toString()
      expect(everything).not.toContain("s3cr3t-value")
      expect(everything).toContain("<redacted>")
      const logs = JSON.stringify(yield* LogCapture.lines)
      expect(logs).not.toContain("s3cr3t-value")
    }).pipe(Effect.provide(recorders))
  )
})

describe("automatic alerts", () => {
  /** The alerts recorded, as title → level, message. */
  const recorded = Effect.map(AlertRecorder.alerts, (alerts) =>
    alerts.map(({ title, message, level, fields }) => ({ title, message, level, fields }))
  )

  it.effect("a failing job sends exactly one alert: the error, its run, duration, host and where to look", () =>
    Effect.gen(function* () {
      yield* Effect.exit(runJob(new FailingJob({}), testServices))
      const [run] = yield* MemoryTracking.runs
      const alerts = yield* recorded
      expect(alerts).toHaveLength(1)
      expect(alerts[0]).toEqual({
        title: "FailingJob failed",
        message: expect.stringMatching(
          new RegExp(
            `^JobFailed \\{"reason":"boom"\\} \\(run ${run?.info.runId}, \\d+\\.\\d{2} s on ${escapeRegExp(hostname())}; view: nowhere: the run was kept in memory only\\)$`
          )
        ),
        level: "error",
        fields: {
          kind: "FailingJob",
          status: "FAILED",
          run_id: run?.info.runId,
          experiment: "test",
          duration: expect.stringMatching(/^\d+\.\d{2} s$/),
          host: hostname(),
          view: "nowhere: the run was kept in memory only"
        }
      })
    }).pipe(Effect.provide(recorders))
  )

  it.effect("a defect sends one failure alert with the defect's message", () =>
    Effect.gen(function* () {
      class DyingJob extends Job<DyingJob>()("DyingJob") {
        run() {
          return Effect.die(new RangeError("index out of range"))
        }
      }
      yield* Effect.exit(runJob(new DyingJob({}), testServices))
      const alerts = yield* recorded
      expect(alerts.map((alert) => alert.title)).toEqual(["DyingJob failed"])
      expect(alerts[0]?.message).toMatch(/^index out of range \(run /)
    }).pipe(Effect.provide(recorders))
  )

  it.effect("success sends nothing by default, and one `<KIND> finished` alert with on_success: true", () =>
    Effect.gen(function* () {
      yield* runJob(training, testServices)
      expect(yield* recorded).toEqual([])
      const loud = new TrainingJob({ ...training, alerts_service: { on_success: true } })
      yield* runJob(loud, testServices)
      const alerts = yield* recorded
      expect(alerts.map(({ title, level }) => ({ title, level }))).toEqual([
        { title: "TrainingJob finished", level: "success" }
      ])
      expect(alerts[0]?.message).toMatch(/^finished \(run [0-9a-f]{32}, \d+\.\d{2} s on /)
      expect(alerts[0]?.fields?.status).toBe("FINISHED")
    }).pipe(Effect.provide(recorders))
  )

  it.effect("interruption sends one `<KIND> interrupted` alert; the run is KILLED", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(runJob(new SleepingJob({}), testServices))
      yield* Effect.repeat(LogCapture.lines, { until: (lines) => lines.some((line) => line.message === "sleeping") })
      yield* Fiber.interrupt(fiber)
      const [run] = yield* MemoryTracking.runs
      expect(run?.info.status).toBe("KILLED")
      const alerts = yield* recorded
      expect(alerts.map(({ title, level }) => ({ title, level }))).toEqual([
        { title: "SleepingJob interrupted", level: "warning" }
      ])
      expect(alerts[0]?.message).toMatch(new RegExp(`^interrupted \\(run ${run?.info.runId}, `))
      expect(alerts[0]?.fields?.status).toBe("KILLED")
    }).pipe(Effect.provide(recorders))
  )

  it.effect("tracking that cannot start is a failure too: one alert with the start error, no credentials", () =>
    Effect.gen(function* () {
      yield* Effect.exit(
        runJob(training, {
          ...testServices,
          mlflow: Mlflow.layer({ tracking_uri: "ftp://user:secret@example.invalid/x", experiment_name: "x" })
        })
      )
      const alerts = yield* recorded
      expect(alerts).toHaveLength(1)
      expect(alerts[0]).toMatchObject({ title: "TrainingJob failed", level: "error" })
      expect(alerts[0]?.message).toMatch(
        /^Mlflow service could not start: .*ftp:\/\/example\.invalid\/x.* \(no run, on /
      )
      expect(JSON.stringify(alerts)).not.toContain("secret")
    }).pipe(Effect.provide(recorders))
  )

  it.effect("the alert is delivered after the run ended and before any service stops", () =>
    Effect.gen(function* () {
      const delivering = Layer.unwrap(
        Effect.gen(function* () {
          const { store } = yield* MemoryTracking
          return Alerts.fromChannels({ app_name: "t", timeout: 5 }, [
            {
              name: "logging",
              send: (alert) =>
                Effect.gen(function* () {
                  const runs = yield* store.runs
                  yield* Effect.logInfo(`delivered ${alert.title} with the run ${runs[0]?.info.status}`)
                })
            }
          ])
        })
      )
      yield* Effect.exit(runJob(new FailingJob({}), { ...testServices, alerts: delivering }))
      const messages = (yield* LogCapture.lines).map((line) => line.message)
      const delivered = messages.indexOf("delivered FailingJob failed with the run FAILED")
      expect(delivered).toBeGreaterThan(-1)
      expect(delivered).toBeLessThan(messages.indexOf("[STOP] Mlflow"))
    }).pipe(Effect.provide(recorders))
  )

  it.live("a hanging channel delays neither a failing nor an interrupted job past the alerts timeout", () =>
    Effect.gen(function* () {
      const hanging = Alerts.fromChannels({ app_name: "t", timeout: 0.5 }, [{ name: "hang", send: () => Effect.never }])
      const services = { ...testServices, alerts: hanging }
      let started = performance.now()
      yield* Effect.exit(runJob(new FailingJob({}), services))
      expect((performance.now() - started) / 1000).toBeLessThan(3)

      const fiber = yield* Effect.forkChild(runJob(new SleepingJob({}), services))
      yield* Effect.repeat(LogCapture.lines, {
        until: (lines) => lines.some((line) => line.message === "sleeping"),
        schedule: Schedule.spaced("10 millis")
      })
      started = performance.now()
      yield* Fiber.interrupt(fiber)
      expect((performance.now() - started) / 1000).toBeLessThan(3)
      const lines = yield* LogCapture.lines
      const warned = lines.filter((line) => line.level === "WARN" && line.message.startsWith("alert channel"))
      expect(warned.map((line) => line.message)).toEqual([
        "alert channel hang failed: no answer within 0.5 s",
        "alert channel hang failed: no answer within 0.5 s"
      ])
      // Logged through the job's logger, before it stopped.
      const messages = lines.map((line) => line.message)
      expect(messages.lastIndexOf("alert channel hang failed: no answer within 0.5 s")).toBeLessThan(
        messages.lastIndexOf("[STOP] Logger")
      )
    }).pipe(Effect.provide(recorders))
  )
})

describe("automatic alerts through the real Alerts layer (a real HTTP server)", () => {
  it.live("a failing job sends exactly one failure alert per channel, with the error summary", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer()
      const job = new FailingJob({
        alerts_service: {
          channels: [
            { type: "slack", url: Redacted.make(server.url("/slack")) },
            { type: "webhook", url: Redacted.make(server.url("/hook")) },
            { type: "discord", url: Redacted.make(server.url("/discord")) }
          ]
        }
      })
      yield* Effect.exit(runJob(job, { logger: Logger.layerTest, mlflow: Mlflow.layerTest }))
      for (const path of ["/slack", "/hook", "/discord"]) expect(server.requestsTo(path), path).toHaveLength(1)
      const hook = JSON.parse(server.requestsTo("/hook")[0]!.body) as Record<string, unknown>
      expect(hook).toMatchObject({ title: "FailingJob failed", level: "error", fields: { status: "FAILED" } })
      expect(hook.message).toMatch(/^JobFailed \{"reason":"boom"\} \(run /)
      expect(server.requestsTo("/slack")[0]!.body).toContain('JobFailed {\\"reason\\":\\"boom\\"}')
      expect(server.requestsTo("/discord")[0]!.body).toContain("FailingJob failed")
    }).pipe(Effect.provide(recorders))
  )

  it.live("success alerts go out only with on_success: true", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer()
      const channels = [{ type: "webhook", url: Redacted.make(server.url("/hook")) }] as const
      const services = { logger: Logger.layerTest, mlflow: Mlflow.layerTest }
      yield* runJob(new TrainingJob({ ...training, alerts_service: { channels } }), services)
      expect(server.requests()).toHaveLength(0)
      yield* runJob(new TrainingJob({ ...training, alerts_service: { channels, on_success: true } }), services)
      expect(server.requests()).toHaveLength(1)
      expect(JSON.parse(server.requests()[0]!.body)).toMatchObject({ title: "TrainingJob finished", level: "success" })
    }).pipe(Effect.provide(recorders))
  )
})
