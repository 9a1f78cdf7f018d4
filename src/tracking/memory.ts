/**
 * An in-memory {@link TrackingStore} with the same semantics as the SQLite store (write-once params,
 * duplicate metric points ignored, latest metric by step/timestamp/value, atomic batches). It backs
 * `Mlflow.layerTest`, where tests inspect what a job tracked.
 *
 * @module
 */
import { readFileSync } from "node:fs"
import { posix } from "node:path"
import * as Effect from "effect/Effect"
import type {
  ArtifactEntry,
  CreateRunInput,
  Experiment,
  LogBatch,
  Metric,
  Param,
  RunData,
  RunInfo,
  RunStatus,
  Tag,
  TrackingStore
} from "./store.js"
import { TrackingError } from "./store.js"

/** The URI the memory store reports. */
export const memoryUri = "memory://"

interface StoredRun {
  info: RunInfo
  readonly params: Map<string, string>
  readonly tags: Map<string, string>
  readonly metrics: Array<Metric>
  /** Identities of stored points, as MLflow's metrics primary key: key, step, timestamp, value. */
  readonly points: Set<string>
  readonly latest: Map<string, Metric>
  readonly artifacts: Map<string, Uint8Array>
}

/** A {@link TrackingStore} that also lists what it holds, for assertions in tests. */
export interface MemoryTrackingStore extends TrackingStore {
  /** Every experiment, in creation order. */
  readonly experiments: Effect.Effect<ReadonlyArray<Experiment>>
  /** Every run, in creation order, with its params, tags and latest metrics. */
  readonly runs: Effect.Effect<ReadonlyArray<RunData>>
  /** The content of one artifact, or `undefined` if the run has none at that path. */
  readonly readArtifact: (runId: string, artifactPath: string) => Effect.Effect<Uint8Array | undefined>
}

// MLflow's rule (SqlAlchemyStore._update_latest_metrics_if_necessary): the latest point is the greatest by
// (step, timestamp, value); NaN compares as MLflow stores it, 0.
const isMoreRecent = (candidate: Metric, current: Metric): boolean => {
  if (candidate.step !== current.step) return candidate.step > current.step
  if (candidate.timestamp !== current.timestamp) return candidate.timestamp > current.timestamp
  const value = (metric: Metric) => (Number.isNaN(metric.value) ? 0 : metric.value)
  return value(candidate) > value(current)
}

const pointIdentity = (metric: Metric): string =>
  JSON.stringify([metric.key, metric.step, metric.timestamp, String(metric.value)])

/** Creates an empty in-memory store. */
export const makeMemoryStore = (): MemoryTrackingStore => {
  const experiments: Array<Experiment> = [
    {
      experimentId: "0",
      name: "Default",
      artifactLocation: "memory://0",
      lifecycleStage: "active",
      creationTime: Date.now(),
      lastUpdateTime: Date.now()
    }
  ]
  const runs = new Map<string, StoredRun>()

  const fail = (operation: string, reason: string) =>
    Effect.fail(new TrackingError({ operation, uri: memoryUri, reason }))

  const findRun = (operation: string, runId: string): Effect.Effect<StoredRun, TrackingError> => {
    const run = runs.get(runId)
    return run ? Effect.succeed(run) : fail(operation, `run ${runId} not found`)
  }

  const snapshot = (run: StoredRun): RunData => ({
    info: run.info,
    params: [...run.params].map(([key, value]) => ({ key, value })),
    tags: [...run.tags].map(([key, value]) => ({ key, value })),
    latestMetrics: [...run.latest.values()]
  })

  const getOrCreateExperiment = (name: string) =>
    Effect.sync(() => {
      const existing = experiments.find((experiment) => experiment.name === name)
      if (existing) return existing
      const experimentId = String(experiments.length)
      const now = Date.now()
      const created: Experiment = {
        experimentId,
        name,
        artifactLocation: `memory://${experimentId}`,
        lifecycleStage: "active",
        creationTime: now,
        lastUpdateTime: now
      }
      experiments.push(created)
      return created
    })

  const createRun = (input: CreateRunInput) =>
    Effect.suspend(() => {
      const experiment = experiments.find((candidate) => candidate.experimentId === input.experimentId)
      if (!experiment) return fail("create run", `experiment ${input.experimentId} not found`)
      const runNameTag = input.tags.find((tag) => tag.key === "mlflow.runName")
      if (runNameTag && runNameTag.value !== input.runName) {
        return fail("create run", `run name ${input.runName} differs from its mlflow.runName tag ${runNameTag.value}`)
      }
      const runId = crypto.randomUUID().replaceAll("-", "")
      const info: RunInfo = {
        runId,
        runName: input.runName,
        experimentId: input.experimentId,
        userId: input.userId,
        status: "RUNNING",
        startTime: input.startTime,
        endTime: null,
        artifactUri: `${experiment.artifactLocation}/${runId}/artifacts`,
        lifecycleStage: "active"
      }
      const tags = new Map(input.tags.map((tag) => [tag.key, tag.value]))
      tags.set("mlflow.runName", input.runName)
      runs.set(runId, {
        info,
        params: new Map(),
        tags,
        metrics: [],
        points: new Set(),
        latest: new Map(),
        artifacts: new Map()
      })
      return Effect.succeed(info)
    })

  const logBatch = (runId: string, batch: LogBatch) =>
    Effect.flatMap(findRun("log batch", runId), (run) => {
      // Check everything first so a rejected batch leaves nothing behind, as the SQL store's transaction does.
      const params: ReadonlyArray<Param> = batch.params ?? []
      // `pending`: a param set earlier in this same batch counts as logged, as in the SQLite store.
      const pending = new Map<string, string>()
      for (const param of params) {
        const existing = pending.get(param.key) ?? run.params.get(param.key)
        pending.set(param.key, existing ?? param.value)
        if (existing !== undefined && existing !== param.value) {
          return fail(
            "log batch",
            `param ${param.key} was already logged as ${JSON.stringify(existing)} and cannot change to ${JSON.stringify(param.value)}`
          )
        }
      }
      for (const param of params) run.params.set(param.key, param.value)
      const tags: ReadonlyArray<Tag> = batch.tags ?? []
      for (const tag of tags) run.tags.set(tag.key, tag.value)
      for (const metric of batch.metrics ?? []) {
        const identity = pointIdentity(metric)
        if (run.points.has(identity)) continue
        run.points.add(identity)
        run.metrics.push(metric)
        const latest = run.latest.get(metric.key)
        if (!latest || isMoreRecent(metric, latest)) run.latest.set(metric.key, metric)
      }
      return Effect.void
    })

  const endRun = (runId: string, status: RunStatus, endTime: number) =>
    Effect.map(findRun("end run", runId), (run) => {
      run.info = { ...run.info, status, endTime }
    })

  const putArtifact: TrackingStore["putArtifact"] = (run, artifactPath, source) =>
    Effect.flatMap(findRun("log artifact", run.runId), (stored) => {
      const normalized = posix.normalize(artifactPath)
      if (posix.isAbsolute(normalized) || normalized.startsWith("..")) {
        return fail("log artifact", `artifact path ${JSON.stringify(artifactPath)} leaves the run's artifact root`)
      }
      return Effect.try({
        try: () => {
          // A copy: the artifact is what the bytes were when logged, as a file store's copy would be.
          stored.artifacts.set(normalized, source._tag === "Bytes" ? source.bytes.slice() : readFileSync(source.path))
        },
        catch: (cause) => new TrackingError({ operation: "log artifact", uri: memoryUri, reason: String(cause), cause })
      })
    })

  const listArtifacts = (run: RunInfo) =>
    Effect.map(findRun("list artifacts", run.runId), (stored) => {
      const entries = new Map<string, ArtifactEntry>()
      for (const [path, bytes] of stored.artifacts) {
        const parts = path.split("/")
        for (let depth = 1; depth < parts.length; depth++) {
          const dir = parts.slice(0, depth).join("/")
          entries.set(dir, { path: dir, isDir: true, fileSize: null })
        }
        entries.set(path, { path, isDir: false, fileSize: bytes.byteLength })
      }
      return [...entries.values()].sort((a, b) => a.path.localeCompare(b.path))
    })

  const getArtifact: TrackingStore["getArtifact"] = (run, artifactPath) =>
    Effect.flatMap(findRun("get artifact", run.runId), (stored) => {
      const bytes = stored.artifacts.get(posix.normalize(artifactPath))
      return bytes === undefined
        ? fail("get artifact", `run ${run.runId} has no artifact ${JSON.stringify(artifactPath)}`)
        : Effect.succeed(bytes.slice())
    })

  return {
    uri: memoryUri,
    getOrCreateExperiment,
    createRun,
    logBatch,
    endRun,
    putArtifact,
    getRun: (runId) => Effect.map(findRun("get run", runId), snapshot),
    getMetricHistory: (runId, key) =>
      Effect.map(findRun("get metric history", runId), (run) =>
        run.metrics.filter((metric) => metric.key === key).sort((a, b) => a.step - b.step || a.timestamp - b.timestamp)
      ),
    getArtifact,
    listArtifacts,
    experiments: Effect.sync(() => [...experiments]),
    runs: Effect.sync(() => [...runs.values()].map(snapshot)),
    readArtifact: (runId, artifactPath) =>
      Effect.sync(() => runs.get(runId)?.artifacts.get(posix.normalize(artifactPath))?.slice())
  }
}
