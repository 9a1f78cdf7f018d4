/**
 * B4: 100,000 metric points to a real `mlflow server` 3.18.0 (SQLite-backed, one worker, on loopback), by
 * four clients, one after the other, each against a server of its own:
 *
 * - ours: a job's Run handle over the REST store (buffered, log-batch of 1,000);
 * - Python `mlflow.log_metric` (synchronous: one request per point). At several milliseconds a request,
 *   100,000 of them would take minutes, so it logs the first {@link syncSteps} steps and its rate is compared;
 * - Python async logging (`synchronous=False`), the first {@link asyncSteps} steps, timed until
 *   `flush_async_logging` returns;
 * - a raw log-batch loop: `fetch` posting pre-built 1,000-point bodies back to back: what the server itself
 *   can take, with no client work at all.
 *
 * Rates are points per second; the ratios compare rates, so "5×" means five times the points per second.
 */
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { pythonJson, startMlflowServer } from "../test/harness/python.js"
import { ingestMedian, ingestSize } from "./jobs.js"
import { freshDir, repeat } from "./lib.js"
import type { Row } from "./report.js"

/** Steps the synchronous Python client logs (× 10 keys): enough for a stable rate, short enough to wait for. */
const syncSteps = 300
/**
 * Steps the asynchronous Python client logs (× 10 keys). Its queue sends many small batches, so all 10,000
 * steps keep it busy for half an hour (about 60 points/s here); its rate over 1,000 steps is what is compared.
 */
const asyncSteps = 1_000

const pythonClient = `
import json, math, os, sys, time
import mlflow
mode, keys, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mlflow.set_tracking_uri(os.environ["BENCH_SERVER"])
mlflow.set_experiment(f"bench-{mode}")
now = int(time.time() * 1000)
with mlflow.start_run():
    started = time.perf_counter()
    for s in range(steps):
        for k in range(keys):
            mlflow.log_metric(f"metric_{k}", math.sin(s * keys + k), step=s, timestamp=now + s,
                              synchronous=(mode == "sync"))
    if mode == "async":
        mlflow.flush_async_logging()
    elapsed = time.perf_counter() - started
print(json.dumps(elapsed))
`

const rawLoop = async (server: string, steps: number = ingestSize.steps): Promise<number> => {
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${server}/api/2.0/mlflow/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`)
    return (await response.json()) as {
      readonly experiment_id?: string
      readonly run?: { readonly info: { readonly run_id: string } }
    }
  }
  const experiment = await post("experiments/create", { name: `bench-raw-${Date.now()}` })
  const run = await post("runs/create", { experiment_id: experiment.experiment_id, start_time: Date.now() })
  const runId = run.run?.info.run_id
  const now = Date.now()
  const bodies: Array<string> = []
  for (let step = 0; step < steps; step += 100) {
    const metrics = []
    for (let s = step; s < step + 100; s++) {
      for (let k = 0; k < ingestSize.keys; k++) {
        metrics.push({ key: `metric_${k}`, value: Math.sin(s * ingestSize.keys + k), timestamp: now + s, step: s })
      }
    }
    bodies.push(JSON.stringify({ run_id: runId, metrics }))
  }
  const started = performance.now()
  for (const body of bodies) {
    const response = await fetch(`${server}/api/2.0/mlflow/runs/log-batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body
    })
    if (!response.ok) throw new Error(`log-batch: HTTP ${response.status} ${await response.text()}`)
    await response.arrayBuffer()
  }
  return (performance.now() - started) / 1000
}

/** Runs `use` against a fresh, warmed-up server, so no client is measured on a database another one has grown. */
const withServer = async <A>(use: (url: string) => Promise<A>): Promise<A> => {
  const dir = freshDir()
  const server = await startMlflowServer({
    backendStoreUri: `sqlite:///${join(dir, "server.db")}`,
    artifactsDestination: join(dir, "artifacts"),
    cwd: dir
  })
  try {
    // A fresh server answers its first requests several times slower (imports, SQLAlchemy warming up): each
    // client is measured on a server that has already taken 10,000 points.
    await rawLoop(server.url, 1_000)
    return await use(server.url)
  } finally {
    await server.stop()
  }
}

/** Runs B4: `samples` (at least 3) of ours and of the raw loop, one run of each Python client. */
export const restIngest = async (samples: number): Promise<ReadonlyArray<Row>> => {
  const points = ingestSize.keys * ingestSize.steps
  const times = Math.max(3, Math.ceil(samples / 2))
  const ours = await withServer((url) => ingestMedian(times, () => url))
  const raw = await withServer((url) => repeat(times, () => rawLoop(url)))
  const python = (mode: string, steps: number) =>
    withServer((url) =>
      pythonJson<number>(pythonClient, [mode, String(ingestSize.keys), String(steps)], {
        cwd: freshDir(),
        env: { BENCH_SERVER: url }
      })
    )
  const syncSeconds = await python("sync", syncSteps)
  const asyncSeconds = await python("async", asyncSteps)
  const rate = { ours: points / ours, raw: points / raw }
  const syncRate = (syncSteps * ingestSize.keys) / syncSeconds
  const asyncRate = (asyncSteps * ingestSize.keys) / asyncSeconds
  const pointsPerSecond = (value: number) => `${Math.round(value).toLocaleString("en-US")} points/s`
  const ourText = `${ours.toFixed(3)} s (${pointsPerSecond(rate.ours)})`
  return [
    {
      id: "B4",
      what: "100k points → mlflow server, vs sync log_metric",
      ours: ourText,
      anchor: `${pointsPerSecond(syncRate)} (${(syncSteps * ingestSize.keys).toLocaleString("en-US")} points)`,
      ratio: syncRate / rate.ours,
      goal: "≥ 5× the points/s",
      met: rate.ours / syncRate >= 5
    },
    {
      id: "B4",
      what: "… vs async log_metric (synchronous=False)",
      ours: ourText,
      anchor: `${pointsPerSecond(asyncRate)} (${(asyncSteps * ingestSize.keys).toLocaleString("en-US")} points)`,
      ratio: asyncRate / rate.ours,
      goal: "≥ 1.5× the points/s",
      met: rate.ours / asyncRate >= 1.5
    },
    {
      id: "B4",
      what: "… vs a raw log-batch loop (the server's limit)",
      ours: ourText,
      anchor: `${raw.toFixed(3)} s (${pointsPerSecond(rate.raw)})`,
      ratio: rate.raw / rate.ours,
      goal: "≥ 80% of its points/s",
      met: rate.ours / rate.raw >= 0.8
    }
  ]
}
