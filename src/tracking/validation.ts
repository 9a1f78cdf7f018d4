/**
 * MLflow's rules for keys, values and batch sizes (mlflow 3.18.0, `mlflow/utils/validation.py`), checked
 * before anything is written so a bad value is a clear error at the call that made it, whatever the store.
 *
 * @module
 */
import { posix } from "node:path"
import * as Schema from "effect/Schema"
import type { LogBatch, Metric, Param, Tag } from "./store.js"

/** MLflow's limits, as mlflow 3.18.0 enforces them. */
export const MlflowLimits = {
  /** Metrics in one `log-batch` call. */
  metricsPerBatch: 1000,
  /** Params, and separately tags, in one `log-batch` call. */
  paramsTagsPerBatch: 100,
  /** Metrics + params + tags in one `log-batch` call. */
  entitiesPerBatch: 1000,
  /** Characters of a metric, param or tag key. */
  keyLength: 250,
  /** Characters of a param value. */
  paramValueLength: 6000,
  /** Characters of a tag value. */
  tagValueLength: 8000,
  /** Characters of an experiment name. */
  experimentNameLength: 500
} as const

/** A key or value breaks one of MLflow's rules; `rule` says which, `path` which entry. */
export class MlflowValidationError extends Schema.TaggedError<MlflowValidationError>()("MlflowValidationError", {
  path: Schema.String,
  value: Schema.String,
  rule: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.path} ${JSON.stringify(this.value)}: ${this.rule}`
  }
}

// Python's `\w` on str is Unicode-aware: letters, digits and underscore of any script (str.isalnum() or "_").
// Combining marks (\p{M}) are not alphanumeric there, so MLflow rejects "e\u0301" and Devanagari vowel signs.
const allowedKeyCharacters = /^[\p{L}\p{N}_/.\- :]*$/u

const characters = (text: string): number => {
  let count = 0
  for (const _ of text) count++
  return count
}

// Python's posixpath.normpath, which MLflow uses to refuse keys that would alias another key as a file path.
const normpath = (path: string): string => {
  const normalized = posix.normalize(path)
  return normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized
}

/** Checks a metric, param or tag key; returns the error describing the first rule it breaks. */
export const keyProblem = (key: string): string | undefined => {
  if (key.length === 0) return "a key must not be empty"
  if (!allowedKeyCharacters.test(key)) {
    return "keys may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
  }
  const normalized = normpath(key)
  if (normalized !== key || normalized === "." || normalized.startsWith("..") || normalized.startsWith("/")) {
    return `keys are used as file paths and must not resolve to another name (this one resolves to ${JSON.stringify(normalized)})`
  }
  if (characters(key) > MlflowLimits.keyLength) return `keys are at most ${MlflowLimits.keyLength} characters`
  return undefined
}

const check = (path: string, value: string, problem: string | undefined): MlflowValidationError | undefined =>
  problem === undefined ? undefined : new MlflowValidationError({ path, value, rule: problem })

// Params and tags differ only in what they are called and how long their values may be.
const validateKeyValue =
  (kind: "param" | "tag", maxValueLength: number) =>
  (entry: Param | Tag): MlflowValidationError | undefined => {
    const length = characters(entry.value)
    return (
      check(`${kind} key`, entry.key, keyProblem(entry.key)) ??
      check(
        `value of ${kind} ${entry.key}`,
        entry.value.length > 80 ? `${entry.value.slice(0, 80)}…` : entry.value,
        length > maxValueLength
          ? `${kind} values are at most ${maxValueLength} characters (this one has ${length})`
          : undefined
      )
    )
  }

/** The first rule a param breaks, if any. */
export const validateParam: (param: Param) => MlflowValidationError | undefined = validateKeyValue(
  "param",
  MlflowLimits.paramValueLength
)

/** The first rule a tag breaks, if any. */
export const validateTag: (tag: Tag) => MlflowValidationError | undefined = validateKeyValue(
  "tag",
  MlflowLimits.tagValueLength
)

/**
 * The first rule a metric breaks, if any. NaN and ±Infinity are valid (stores encode them as MLflow does);
 * the timestamp must be a non-negative integer and the step an integer, both within 64-bit range.
 */
export const validateMetric = (metric: Metric): MlflowValidationError | undefined =>
  check(`metric key`, metric.key, keyProblem(metric.key)) ??
  check(
    `timestamp of metric ${metric.key}`,
    String(metric.timestamp),
    Number.isSafeInteger(metric.timestamp) && metric.timestamp >= 0
      ? undefined
      : "timestamps are non-negative integers (epoch milliseconds)"
  ) ??
  check(
    `step of metric ${metric.key}`,
    String(metric.step),
    Number.isSafeInteger(metric.step) ? undefined : "steps are integers"
  ) ??
  check(
    `value of metric ${metric.key}`,
    String(metric.value),
    typeof metric.value === "number" ? undefined : "metric values are numbers"
  )

/** The first rule an experiment name breaks, if any. */
export const validateExperimentName = (name: string): MlflowValidationError | undefined =>
  check(
    "experiment name",
    name,
    name.trim().length === 0
      ? "an experiment name must not be blank"
      : characters(name) > MlflowLimits.experimentNameLength
        ? `experiment names are at most ${MlflowLimits.experimentNameLength} characters`
        : undefined
  )

/**
 * Checks a whole batch: every entry's rules, and that the batch does not give one param key two values.
 * Returns the first problem found.
 */
export const validateBatch = (batch: LogBatch): MlflowValidationError | undefined => {
  for (const metric of batch.metrics ?? []) {
    const problem = validateMetric(metric)
    if (problem) return problem
  }
  const seen = new Map<string, string>()
  for (const param of batch.params ?? []) {
    const problem = validateParam(param)
    if (problem) return problem
    const previous = seen.get(param.key)
    if (previous !== undefined && previous !== param.value) {
      return new MlflowValidationError({
        path: `param ${param.key}`,
        value: param.value,
        rule: `params are write-once and this batch also sets it to ${JSON.stringify(previous)}`
      })
    }
    seen.set(param.key, param.value)
  }
  for (const tag of batch.tags ?? []) {
    const problem = validateTag(tag)
    if (problem) return problem
  }
  return undefined
}

/**
 * Splits a batch into batches within MLflow's per-call limits (1000 metrics, 100 params, 100 tags, 1000
 * entities), keeping the order of the entries of each kind.
 */
export const chunkBatch = (batch: LogBatch): ReadonlyArray<LogBatch> => {
  const metrics = [...(batch.metrics ?? [])]
  const params = [...(batch.params ?? [])]
  const tags = [...(batch.tags ?? [])]
  const chunks: Array<LogBatch> = []
  while (metrics.length > 0 || params.length > 0 || tags.length > 0) {
    const chunkParams = params.splice(0, MlflowLimits.paramsTagsPerBatch)
    const chunkTags = tags.splice(0, MlflowLimits.paramsTagsPerBatch)
    const room = Math.min(
      MlflowLimits.metricsPerBatch,
      MlflowLimits.entitiesPerBatch - chunkParams.length - chunkTags.length
    )
    chunks.push({ metrics: metrics.splice(0, room), params: chunkParams, tags: chunkTags })
  }
  return chunks
}

/**
 * The segments of an artifact path (relative, POSIX, relative to the run's artifact root), or the rule it
 * breaks: no NUL byte, no absolute or Windows path, no backslash, no `..`, and at least one name. `.` and
 * empty segments are dropped, so `logs/./deep//job.log` is `logs/deep/job.log`.
 */
export const artifactPathSegments = (artifactPath: string): ReadonlyArray<string> | MlflowValidationError => {
  const refuse = (rule: string) => new MlflowValidationError({ path: "artifact path", value: artifactPath, rule })
  if (artifactPath.includes("\0")) return refuse("artifact paths must not contain a NUL byte")
  if (artifactPath.startsWith("/") || artifactPath.includes("\\") || /^[A-Za-z]:/.test(artifactPath)) {
    return refuse("artifact paths are relative POSIX paths")
  }
  const segments = artifactPath.split("/").filter((segment) => segment !== "" && segment !== ".")
  if (segments.includes("..")) return refuse("artifact paths must not contain '..'")
  if (segments.length === 0) return refuse("an artifact path must name a file")
  return segments
}
