/**
 * `npm run bench`: autogen-team against Python MLflow 3.18.0, side by side in one run on this machine.
 *
 *   B1  cold CLI run of a no-op job (CommandJob running `true`), all services on, fresh sqlite:///mlflow.db
 *   B2  the same with the database already there
 *   B3  100,000 metric points (10 keys × 10,000 steps) into the embedded store
 *   B4  the same 100,000 points to a real `mlflow server`
 *   B5  in-process enter + exit of the three services, 1,000 jobs, memory and sqlite stores
 *   B6  peak RSS of B1
 *
 * Prints the table and writes it to bench/results.md, with a chart in docs/bench.svg. Medians everywhere;
 * the Python anchors are measured in the same run, never taken from elsewhere. BENCH_SAMPLES (default 7)
 * sets the samples of the process benchmarks, BENCH_PY_SAMPLES (default 5) those of the Python ones.
 */
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import * as Effect from "effect/Effect"
import { runJob } from "../src/index.js"
import { pythonJson } from "../test/harness/python.js"
import { ingestMedian, ingestSize, NoopJob, quietServices } from "./jobs.js"
import { freshDir, median, python, repeat, repoRoot, timeProcess } from "./lib.js"
import { type Row, renderChart, renderMarkdown } from "./report.js"
import { restIngest } from "./rest.js"

const samples = Number(process.env.BENCH_SAMPLES ?? 7)
const pythonSamples = Number(process.env.BENCH_PY_SAMPLES ?? 5)

const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  bin: Record<string, string>
}
/** The bin as npm installs it: what users run. */
const bin = join(repoRoot, manifest.bin["autogen-team"]!)

const noopConfig = 'job:\n  KIND: CommandJob\n  command: ["true"]\n'

const pythonNoop = `
import mlflow
mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("bench")
with mlflow.start_run():
    mlflow.log_param("a", "1")
`

const log = (text: string) => process.stderr.write(`${text}\n`)

/** B1 and B6 (fresh database), or B2 (`warm`: the database made by a first, untimed run). */
const cliRuns = async (warm: boolean) => {
  const ours: Array<number> = []
  const rss: Array<number> = []
  for (let sample = 0; sample < samples; sample++) {
    const dir = freshDir()
    writeFileSync(join(dir, "noop.yaml"), noopConfig)
    const args = [bin, "run", "--quiet", "noop.yaml"]
    if (warm) await timeProcess(process.execPath, args, dir)
    const result = await timeProcess(process.execPath, args, dir)
    ours.push(result.seconds)
    if (result.peakRssMiB !== undefined) rss.push(result.peakRssMiB)
  }
  const anchor: Array<number> = []
  const anchorRss: Array<number> = []
  for (let sample = 0; sample < pythonSamples; sample++) {
    const dir = freshDir()
    if (warm) await timeProcess(python, ["-c", pythonNoop], dir)
    const result = await timeProcess(python, ["-c", pythonNoop], dir)
    anchor.push(result.seconds)
    if (result.peakRssMiB !== undefined) anchorRss.push(result.peakRssMiB)
  }
  return { ours: median(ours), anchor: median(anchor), rss: median(rss), anchorRss: median(anchorRss) }
}

const pythonIngest = `
import json, math, sys, time
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
experiment = client.create_experiment("bench")
run = client.create_run(experiment)
keys, steps = int(sys.argv[2]), int(sys.argv[3])
now = int(time.time() * 1000)
points = [Metric(f"metric_{k}", math.sin(s * keys + k), now + s, s) for s in range(steps) for k in range(keys)]
started = time.perf_counter()
for i in range(0, len(points), 1000):
    client.log_batch(run.info.run_id, metrics=points[i:i + 1000])
print(json.dumps(time.perf_counter() - started))
`

/** B3: ours through the Run handle, Python through `MlflowClient.log_batch` in batches of 1,000. */
const sqliteIngest = async () => {
  const ours = await ingestMedian(Math.max(3, Math.ceil(samples / 2)), (dir) => `sqlite:///${join(dir, "mlflow.db")}`)
  const anchor = await repeat(Math.min(3, pythonSamples), () =>
    pythonJson<number>(pythonIngest, ["sqlite:///mlflow.db", String(ingestSize.keys), String(ingestSize.steps)], {
      cwd: freshDir()
    })
  )
  return { ours, anchor }
}

/** B5: per-job time of `runJob` (start logger, alerts, mlflow; open and end a run; stop all) over 1,000 jobs. */
const lifecycle = async (store: "memory" | "sqlite") => {
  const dir = freshDir()
  const uri = store === "memory" ? "none" : `sqlite:///${join(dir, "mlflow.db")}`
  const job = new NoopJob(quietServices(dir, uri))
  const times: Array<number> = []
  for (let index = 0; index < 1_000; index++) {
    const started = performance.now()
    await Effect.runPromise(runJob(job))
    times.push(performance.now() - started)
  }
  // The first job pays for loading modules (and, for sqlite, creating the schema): that is B1's subject.
  return median(times.slice(1))
}

const versionOf = (command: string, args: ReadonlyArray<string>): string => {
  try {
    return execFileSync(command, args, { encoding: "utf8" }).trim()
  } catch {
    return "unavailable"
  }
}

/** Each benchmark and the rows it reports; B6 is measured by B1's runs. */
const benchmarks: ReadonlyArray<readonly [string, string, () => Promise<ReadonlyArray<Row>>]> = [
  [
    "B1",
    `B1/B6: cold CLI runs (${samples} ours, ${pythonSamples} Python)`,
    async () => {
      const cold = await cliRuns(false)
      return [
        {
          id: "B1",
          what: "cold CLI run, no-op job, fresh DB",
          ours: `${cold.ours.toFixed(3)} s`,
          anchor: `${cold.anchor.toFixed(3)} s`,
          ratio: cold.ours / cold.anchor,
          goal: "≤ 0.10× and ≤ 0.35 s",
          met: cold.ours / cold.anchor <= 0.1 && cold.ours <= 0.35
        },
        {
          id: "B6",
          what: "peak RSS of B1",
          ours: `${cold.rss.toFixed(1)} MiB`,
          anchor: `${cold.anchorRss.toFixed(1)} MiB`,
          ratio: cold.rss / cold.anchorRss,
          goal: "≤ 100 MiB",
          met: cold.rss <= 100,
          better: "less memory"
        }
      ]
    }
  ],
  [
    "B2",
    "B2: CLI runs with the DB present",
    async () => {
      const warm = await cliRuns(true)
      return [
        {
          id: "B2",
          what: "CLI run, DB present",
          ours: `${warm.ours.toFixed(3)} s`,
          anchor: `${warm.anchor.toFixed(3)} s`,
          ratio: warm.ours / warm.anchor,
          goal: "≤ 0.15×",
          met: warm.ours / warm.anchor <= 0.15
        }
      ]
    }
  ],
  [
    "B3",
    "B3: 100,000 points into SQLite",
    async () => {
      const ingest = await sqliteIngest()
      return [
        {
          id: "B3",
          what: "100k points → SQLite",
          ours: `${ingest.ours.toFixed(3)} s`,
          anchor: `${ingest.anchor.toFixed(3)} s (log_batch ×1000)`,
          ratio: ingest.ours / ingest.anchor,
          goal: "≥ 10× faster (≤ 0.10×)",
          met: ingest.ours / ingest.anchor <= 0.1
        }
      ]
    }
  ],
  ["B4", "B4: 100,000 points to a real mlflow server", () => restIngest(samples)],
  [
    "B5",
    "B5: 1,000 jobs in-process, memory then sqlite",
    async () => {
      const memory = await lifecycle("memory")
      const sqlite = await lifecycle("sqlite")
      return [
        {
          id: "B5",
          what: "runJob enter+exit, memory store",
          ours: `${memory.toFixed(3)} ms`,
          anchor: "—",
          ratio: undefined,
          goal: "≤ 1 ms",
          met: memory <= 1
        },
        {
          id: "B5",
          what: "runJob enter+exit, sqlite store",
          ours: `${sqlite.toFixed(3)} ms`,
          anchor: "—",
          ratio: undefined,
          goal: "≤ 3 ms",
          met: sqlite <= 3
        }
      ]
    }
  ]
]

/** BENCH_ONLY=B1,B4 runs only those, and prints without writing the report files. */
const only = process.env.BENCH_ONLY?.split(",").map((id) => id.trim().toUpperCase())

const main = async () => {
  const rows: Array<Row> = []
  for (const [id, title, measure] of benchmarks) {
    if (only !== undefined && !only.includes(id)) continue
    log(`${title}…`)
    rows.push(...(await measure()))
  }
  rows.sort((a, b) => a.id.localeCompare(b.id))
  const machine = {
    date: new Date().toISOString(),
    cpu: `${cpus()[0]?.model ?? "unknown"} × ${cpus().length}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    python: versionOf(python, ["--version"]),
    mlflow: versionOf(python, ["-c", "import mlflow; print(mlflow.__version__)"]),
    samples: `${samples} (ours), ${pythonSamples} (Python)`
  }
  const markdown = renderMarkdown(rows, machine)
  if (only === undefined) {
    writeFileSync(join(repoRoot, "bench", "results.md"), markdown)
    writeFileSync(join(repoRoot, "docs", "bench.svg"), renderChart(rows))
  }
  process.stdout.write(markdown)
}

await main()
