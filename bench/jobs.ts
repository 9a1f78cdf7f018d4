/**
 * The job kinds the benchmarks run: a no-op, and one that logs a grid of metric points through its Run.
 */
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Job, Mlflow, runJob } from "../src/index.js"
import { freshDir, repeat } from "./lib.js"

/** Does nothing: what is measured is the job context around it. */
export class NoopJob extends Job<NoopJob>()("NoopJob") {
  run() {
    return Effect.succeed({})
  }
}

/** The size of the ingest benchmarks: 10 keys × 10,000 steps = 100,000 points. */
export const ingestSize = { keys: 10, steps: 10_000 } as const

/**
 * Logs `keys` metrics at each of `steps` steps through the job's Run (buffered, written in batches), then
 * flushes: the path a user's training loop takes. Returns the seconds from the first point to the flush.
 */
export class IngestJob extends Job<IngestJob>()("IngestJob", { keys: Schema.Int, steps: Schema.Int }) {
  run() {
    const job = this
    return Effect.gen(function* () {
      const run = yield* Mlflow.currentRun
      const started = performance.now()
      const timestamp = Date.now()
      for (let step = 0; step < job.steps; step++) {
        const metrics: Record<string, number> = {}
        for (let key = 0; key < job.keys; key++) metrics[`metric_${key}`] = Math.sin(step * job.keys + key)
        yield* run.logMetrics(metrics, { step, timestamp: timestamp + step })
      }
      yield* run.flush
      return { seconds: (performance.now() - started) / 1000 }
    })
  }
}

/**
 * Service configs that keep a benchmark quiet: only warnings logged (a successful job writes none), console
 * alerts (none are sent), artifacts under `dir`.
 */
export const quietServices = (dir: string, trackingUri: string) => ({
  logger_service: { sink: "stderr", level: "WARN" as const },
  alerts_service: { enable: false },
  mlflow_service: { tracking_uri: trackingUri, artifact_root: join(dir, "mlruns") }
})

/**
 * The median seconds of `times` {@link IngestJob} runs of {@link ingestSize}, each in a fresh directory and
 * logging to `trackingUri(dir)`.
 */
export const ingestMedian = (times: number, trackingUri: (dir: string) => string): Promise<number> =>
  repeat(times, async () => {
    const dir = freshDir()
    const job = new IngestJob({ ...ingestSize, ...quietServices(dir, trackingUri(dir)) })
    return (await Effect.runPromise(runJob(job))).seconds
  })
