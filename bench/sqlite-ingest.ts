/**
 * Ingest speed of the embedded store: 100,000 metric points (10 keys × 10,000 steps) written through
 * `TrackingStore.logBatch` in batches of 1,000 (MLflow's per-call limit) into a fresh SQLite file.
 *
 *   npx tsx bench/sqlite-ingest.ts [samples]
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import * as Effect from "effect/Effect"
import { makeSqliteStore } from "../src/tracking/sqlite.js"

const samples = Number(process.argv[2] ?? 5)
const times: Array<number> = []
for (let sample = 0; sample < samples; sample++) {
  const dir = mkdtempSync(join(tmpdir(), "autogen-bench-"))
  const elapsed = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const store = yield* makeSqliteStore({
          uri: `sqlite:///${join(dir, "mlflow.db")}`,
          artifactRoot: join(dir, "mlruns")
        })
        const experiment = yield* store.getOrCreateExperiment("bench")
        const run = yield* store.createRun({
          experimentId: experiment.experimentId,
          runName: "ingest",
          userId: "bench",
          startTime: Date.now(),
          tags: []
        })
        const started = performance.now()
        for (let batch = 0; batch < 100; batch++) {
          const metrics = Array.from({ length: 1000 }, (_, i) => ({
            key: `metric_${i % 10}`,
            value: Math.sin(batch * 1000 + i),
            timestamp: 1_700_000_000_000 + batch * 100 + Math.floor(i / 10),
            step: batch * 100 + Math.floor(i / 10)
          }))
          yield* store.logBatch(run.runId, { metrics })
        }
        return performance.now() - started
      })
    )
  )
  times.push(elapsed)
  rmSync(dir, { recursive: true, force: true })
}
const sorted = [...times].sort((a, b) => a - b)
const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
console.log(
  `100,000 points into the embedded store (node ${process.version}): median ${median.toFixed(0)} ms ` +
    `(${(100_000 / (median / 1000)).toFixed(0)} points/s), min ${sorted[0]?.toFixed(0)} ms over ${samples} samples`
)
