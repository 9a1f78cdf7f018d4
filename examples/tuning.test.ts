/**
 * How to test your own job: run it with the test layers the library ships, then assert on what it logged,
 * alerted and tracked. Nothing touches the disk, the desktop or a tracking server.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { AlertRecorder, Alerts, LogCapture, Logger, MemoryTracking, Mlflow, runJob } from "../src/index.js"
import { TuningJob } from "./tuning.js"

/** The recorders the test layers write into, fresh for each test. */
const recorders = Layer.mergeAll(LogCapture.layer, AlertRecorder.layer, MemoryTracking.layer)
/** The three services replaced by their test layers. */
const testServices = { logger: Logger.layerTest, alerts: Alerts.layerTest, mlflow: Mlflow.layerTest }

const job = new TuningJob({ learning_rates: [0.01, 0.3], l2_penalties: [0, 0.1], epochs: 30, samples: 200, seed: 7 })

describe("TuningJob", () => {
  it.effect("runs one child run per trial under the job's run and tags the best one", () =>
    Effect.gen(function* () {
      const { best, trials } = yield* runJob(job, testServices)
      const runs = yield* MemoryTracking.runs
      const parent = runs.find((run) => run.tags.some((tag) => tag.key === "job.kind"))
      assert.isDefined(parent)
      const children = runs.filter((run) => run.tags.some((tag) => tag.key === "mlflow.parentRunId"))
      expect(children).toHaveLength(4)
      expect(trials).toHaveLength(4)
      for (const child of children) {
        expect(child.tags).toContainEqual({ key: "mlflow.parentRunId", value: parent.info.runId })
        expect(child.info.status).toBe("FINISHED")
        expect(child.latestMetrics.map((metric) => [metric.key, metric.step])).toEqual([
          ["train_loss", 29],
          ["val_loss", 29]
        ])
      }
      const tagged = children.filter((run) => run.tags.some((tag) => tag.key === "best_trial"))
      expect(tagged.map((run) => run.info.runId)).toEqual([best.runId])
      expect(best.validationLoss).toBe(Math.min(...trials.map((trial) => trial.validationLoss)))
      expect(parent.tags).toContainEqual({ key: "best_run_id", value: best.runId })
    }).pipe(Effect.provide(recorders))
  )

  it.effect("every epoch is a metric step, and the loss goes down with a sensible learning rate", () =>
    Effect.gen(function* () {
      const { best } = yield* runJob(job, testServices)
      const { store } = yield* MemoryTracking
      const history = yield* store.getMetricHistory(best.runId, "train_loss")
      expect(history.map((point) => point.step)).toEqual(Array.from({ length: 30 }, (_, step) => step))
      expect(history.at(-1)!.value).toBeLessThan(history[0]!.value)
    }).pipe(Effect.provide(recorders))
  )

  it.effect("announces the result with one alert and logs every trial", () =>
    Effect.gen(function* () {
      yield* runJob(job, testServices)
      const alerts = yield* AlertRecorder.alerts
      expect(alerts.map((alert) => alert.title)).toEqual(["Tuning finished"])
      const lines = yield* LogCapture.lines
      expect(lines.filter((line) => line.message.startsWith("trial "))).toHaveLength(4)
    }).pipe(Effect.provide(recorders))
  )
})
