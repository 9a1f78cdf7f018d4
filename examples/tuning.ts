/**
 * A real tuning job: grid search of a ridge-regularised linear model fitted by gradient descent on
 * generated data. The job's run is the parent; every trial is a child run (MLflow's `mlflow.parentRunId`)
 * with its hyper-parameters as params and its losses per epoch as metrics; the best trial is tagged and
 * summarised on the parent, and an alert announces the result.
 *
 * Run it with `npm start` (embedded `sqlite:///mlflow.db` in the working directory), then look at the
 * runs with `mlflow ui --backend-store-uri sqlite:///mlflow.db`.
 */
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Alerts, Job, Mlflow, runJob } from "../src/index.js"

/** A seeded pseudo-random generator (mulberry32), so every run of the example sees the same data. */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Samples of y = 3·x₁ − 2·x₂ + 0.5 + noise, split into training and validation sets. */
export const generateData = (samples: number, seed: number) => {
  const random = seededRandom(seed)
  const rows = Array.from({ length: samples }, () => {
    const x = [random() * 2 - 1, random() * 2 - 1] as const
    const noise = (random() - 0.5) * 0.2
    return { x, y: 3 * x[0] - 2 * x[1] + 0.5 + noise }
  })
  const cut = Math.floor(samples * 0.8)
  return { train: rows.slice(0, cut), validation: rows.slice(cut) }
}

type Row = ReturnType<typeof generateData>["train"][number]

interface Model {
  readonly weights: readonly [number, number]
  readonly bias: number
}

const predict = (model: Model, row: Row) => model.weights[0] * row.x[0] + model.weights[1] * row.x[1] + model.bias

/** Mean squared error of a model on a set of rows. */
export const meanSquaredError = (model: Model, rows: ReadonlyArray<Row>): number =>
  rows.reduce((sum, row) => sum + (predict(model, row) - row.y) ** 2, 0) / rows.length

/** One epoch of full-batch gradient descent on MSE + l2·‖w‖². */
const epoch = (model: Model, rows: ReadonlyArray<Row>, learningRate: number, l2: number): Model => {
  let gradW0 = 0
  let gradW1 = 0
  let gradB = 0
  for (const row of rows) {
    const error = predict(model, row) - row.y
    gradW0 += (2 * error * row.x[0]) / rows.length
    gradW1 += (2 * error * row.x[1]) / rows.length
    gradB += (2 * error) / rows.length
  }
  return {
    weights: [
      model.weights[0] - learningRate * (gradW0 + 2 * l2 * model.weights[0]),
      model.weights[1] - learningRate * (gradW1 + 2 * l2 * model.weights[1])
    ],
    bias: model.bias - learningRate * gradB
  }
}

/** Grid search over learning rates and l2 penalties, one child run per trial. */
export class TuningJob extends Job<TuningJob>()("TuningJob", {
  learning_rates: Schema.NonEmptyArray(Schema.Finite.check(Schema.isGreaterThan(0))),
  l2_penalties: Schema.NonEmptyArray(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  epochs: Schema.Int.check(Schema.isGreaterThan(0)),
  samples: Schema.Int.check(Schema.isGreaterThan(10)),
  seed: Schema.Int
}) {
  run() {
    const job = this
    return Effect.gen(function* () {
      const mlflow = yield* Mlflow
      const alerts = yield* Alerts
      const parent = yield* Mlflow.currentRun
      const data = generateData(job.samples, job.seed)
      const trials: Array<{ runId: string; learningRate: number; l2: number; validationLoss: number }> = []
      for (const learningRate of job.learning_rates) {
        for (const l2 of job.l2_penalties) {
          const trial = yield* mlflow.withRun(
            {
              name: `trial-lr${learningRate}-l2${l2}`,
              params: { learning_rate: learningRate, l2, epochs: job.epochs }
            },
            (run) =>
              Effect.gen(function* () {
                let model: Model = { weights: [0, 0], bias: 0 }
                for (let step = 0; step < job.epochs; step++) {
                  model = epoch(model, data.train, learningRate, l2)
                  yield* run.logMetrics(
                    {
                      train_loss: meanSquaredError(model, data.train),
                      val_loss: meanSquaredError(model, data.validation)
                    },
                    { step }
                  )
                }
                const validationLoss = meanSquaredError(model, data.validation)
                yield* run.logJson(model, "model.json")
                yield* Effect.logInfo(`trial lr=${learningRate} l2=${l2}: val_loss=${validationLoss.toFixed(5)}`)
                return { runId: run.info.runId, learningRate, l2, validationLoss }
              })
          )
          trials.push(trial)
        }
      }
      const best = trials.reduce((a, b) => (b.validationLoss < a.validationLoss ? b : a))
      yield* mlflow.setRunTags(best.runId, { best_trial: "true" })
      yield* parent.setTags({ best_run_id: best.runId })
      yield* parent.logParams({ best_learning_rate: best.learningRate, best_l2: best.l2 })
      yield* parent.logMetric("best_val_loss", best.validationLoss)
      yield* alerts.notify(
        "Tuning finished",
        `best of ${trials.length} trials: lr=${best.learningRate} l2=${best.l2} val_loss=${best.validationLoss.toFixed(5)}`
      )
      return { trials, best }
    })
  }
}

/** The configuration `npm start` runs. */
export const exampleTuningJob = new TuningJob({
  learning_rates: [0.01, 0.05, 0.2],
  l2_penalties: [0, 0.01],
  epochs: 60,
  samples: 400,
  seed: 42,
  logger_service: { level: "INFO" },
  mlflow_service: { tracking_uri: "sqlite:///mlflow.db", experiment_name: "tuning-example" }
})

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { best } = await Effect.runPromise(runJob(exampleTuningJob))
  console.log(
    `\nBest trial: lr=${best.learningRate} l2=${best.l2} val_loss=${best.validationLoss.toFixed(5)} (run ${best.runId})`
  )
  console.log("View the runs with:  mlflow ui --backend-store-uri sqlite:///mlflow.db")
}
