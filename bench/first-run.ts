/**
 * How long the first run on a fresh embedded database takes, in-process: a no-op job through `runJob`
 * (logger, alerts, MLflow started; MLflow's schema created; experiment and run created, params, config
 * artifact; everything stopped). The first sample includes loading the SQLite binding; the others are warm.
 *
 *   npx tsx bench/first-run.ts [samples]
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import * as Effect from "effect/Effect"
import { Job, runJob } from "../src/index.js"

class NoopJob extends Job<NoopJob>()("NoopJob") {
  run() {
    return Effect.succeed({})
  }
}

const samples = Number(process.argv[2] ?? 20)
const times: Array<number> = []
for (let sample = 0; sample < samples; sample++) {
  const dir = mkdtempSync(join(tmpdir(), "autogen-bench-"))
  const job = new NoopJob({
    logger_service: { sink: join(dir, "job.log") },
    alerts_service: { enable: false },
    mlflow_service: { tracking_uri: `sqlite:///${join(dir, "mlflow.db")}`, artifact_root: join(dir, "mlruns") }
  })
  const started = performance.now()
  await Effect.runPromise(runJob(job))
  times.push(performance.now() - started)
  rmSync(dir, { recursive: true, force: true })
}
const warm = times.slice(1).sort((a, b) => a - b)
const median = warm[Math.floor(warm.length / 2)] ?? Number.NaN
console.log(
  `first run on a fresh DB (node ${process.version}): cold ${times[0]?.toFixed(1)} ms, ` +
    `warm median ${median.toFixed(1)} ms, warm max ${warm.at(-1)?.toFixed(1)} ms over ${warm.length} samples`
)
