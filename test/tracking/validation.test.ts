import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { LogBatch, Metric, Param, Tag } from "../../src/tracking/store.js"
import {
  chunkBatch,
  keyProblem,
  MlflowLimits,
  MlflowValidationError,
  validateBatch,
  validateExperimentName,
  validateMetric,
  validateParam,
  validateTag
} from "../../src/tracking/validation.js"
import { type ChildResult, runCommand } from "../fixtures/child.js"
import { describeInterop, harness } from "../harness/python.js"

const metric = (key: string, value = 1, step = 0, timestamp = 1_700_000_000_000): Metric => ({
  key,
  value,
  step,
  timestamp
})

// Keys MLflow 3.18 accepts / rejects (mlflow/utils/validation.py: `[/\w.\- :]` with Python's Unicode-aware \w,
// names that normalize to another path refused, at most 250 characters).
const accepted: ReadonlyArray<string> = [
  "accuracy",
  "val/loss",
  "train loss",
  "lr:0.1",
  "a-b_c.d",
  "日本語",
  "ünïcödé",
  "Ⅻ",
  "½",
  "x²",
  "٣",
  "𝔘",
  ".a",
  "a.",
  "a..b",
  "_",
  "-",
  " ",
  "a".repeat(250),
  "é".repeat(250),
  "𝔘".repeat(250)
]
const rejected: ReadonlyArray<string> = [
  "",
  ".",
  "..",
  "...",
  "..a",
  "/a",
  "//a",
  "a//b",
  "a/",
  "./a",
  "a/.",
  "a/..",
  "a/../b",
  "a\tb",
  "a\nb",
  "a$b",
  "a,b",
  "a\\b",
  "~",
  "😀",
  "a\u200db",
  // Combining marks are not \w in Python: a decomposed é, and Devanagari vowel signs.
  "e\u0301",
  "हिन्दी",
  "a".repeat(251),
  "𝔘".repeat(251)
]
const table: ReadonlyArray<string> = [...accepted, ...rejected]

// The Python cross-check starts when the module loads (importing mlflow takes seconds) and runs meanwhile.
const pythonCheck = `
import json, sys
import mlflow
from mlflow.utils import validation as v
def ok(f):
    try:
        f()
        return True
    except Exception:
        return False
keys = json.loads(sys.stdin.read())
print(json.dumps({
    "version": mlflow.__version__,
    "name": [ok(lambda: v._validate_metric_name(k)) for k in keys],
    "full": [ok(lambda: v._validate_metric(k, 0.0, 0, 0)) for k in keys],
    "limits": [v.MAX_METRICS_PER_BATCH, v.MAX_PARAMS_TAGS_PER_BATCH, v.MAX_ENTITIES_PER_BATCH,
               v.MAX_ENTITY_KEY_LENGTH, v.MAX_PARAM_VAL_LENGTH, v.MAX_TAG_VAL_LENGTH, v.MAX_EXPERIMENT_NAME_LENGTH],
}))
`
const mlflowVerdicts: Promise<ChildResult> | undefined = harness.available
  ? runCommand(harness.python, ["-c", pythonCheck], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", MLFLOW_DISABLE_TELEMETRY: "true", DO_NOT_TRACK: "true" },
      stdin: JSON.stringify(table),
      timeoutMs: 60_000
    })
  : undefined
mlflowVerdicts?.catch(() => undefined)

describe("keyProblem (MLflow key rules)", () => {
  it.effect("accepts MLflow-valid keys: ASCII word chars, / . - space :, Unicode letters and numbers", () =>
    Effect.sync(() => {
      for (const key of accepted) assert.isUndefined(keyProblem(key), JSON.stringify(key))
    })
  )

  it.effect("rejects every key MLflow rejects", () =>
    Effect.sync(() => {
      for (const key of rejected) assert.isDefined(keyProblem(key), JSON.stringify(key))
    })
  )

  it.effect("names the rule broken", () =>
    Effect.sync(() => {
      expect(keyProblem("")).toMatch(/must not be empty/)
      expect(keyProblem("a$b")).toMatch(/may only contain alphanumerics, underscores .* colons \(:\) and slashes/)
      expect(keyProblem("a//b")).toMatch(/file paths .* resolves to "a\/b"/)
      expect(keyProblem("a/")).toMatch(/resolves to "a"/)
      expect(keyProblem("./a")).toMatch(/resolves to "a"/)
      expect(keyProblem("..")).toMatch(/must not resolve to another name/)
      expect(keyProblem("/a")).toMatch(/must not resolve to another name/)
      expect(keyProblem("a".repeat(251))).toMatch(/at most 250 characters/)
    })
  )

  it.effect("counts characters as code points, as Python's len does", () =>
    Effect.sync(() => {
      const astral = "𝔘".repeat(250)
      assert.strictEqual(astral.length, 500)
      assert.isUndefined(keyProblem(astral))
      expect(keyProblem(`${astral}𝔘`)).toMatch(/250/)
    })
  )
})

describe("validateParam / validateTag", () => {
  it.effect("a param value of 6000 characters passes; 6001 is rejected with the rule named", () =>
    Effect.sync(() => {
      assert.isUndefined(validateParam({ key: "p", value: "x".repeat(6000) }))
      const error = validateParam({ key: "p", value: "x".repeat(6001) })
      assert.instanceOf(error, MlflowValidationError)
      assert.strictEqual(error?.path, "value of param p")
      assert.strictEqual(error?.rule, "param values are at most 6000 characters (this one has 6001)")
      // The value in the error is cut to 80 characters.
      assert.strictEqual(error?.value, `${"x".repeat(80)}…`)
      expect(error?.message).toMatch(/^invalid value of param p "x{80}…": param values are at most 6000 characters/)
    })
  )

  it.effect("a tag value of 8000 characters passes; 8001 is rejected with the rule named", () =>
    Effect.sync(() => {
      assert.isUndefined(validateTag({ key: "t", value: "y".repeat(8000) }))
      const error = validateTag({ key: "t", value: "y".repeat(8001) })
      assert.strictEqual(error?._tag, "MlflowValidationError")
      assert.strictEqual(error?.path, "value of tag t")
      assert.strictEqual(error?.rule, "tag values are at most 8000 characters (this one has 8001)")
    })
  )

  it.effect("a bad key is reported before the value", () =>
    Effect.sync(() => {
      const param = validateParam({ key: "bad key!", value: "x".repeat(7000) })
      assert.strictEqual(param?.path, "param key")
      assert.strictEqual(param?.value, "bad key!")
      const tag = validateTag({ key: "a//b", value: "v" })
      assert.strictEqual(tag?.path, "tag key")
      expect(tag?.message).toMatch(/^invalid tag key "a\/\/b": /)
    })
  )

  it.effect("empty values are allowed", () =>
    Effect.sync(() => {
      assert.isUndefined(validateParam({ key: "p", value: "" }))
      assert.isUndefined(validateTag({ key: "t", value: "" }))
    })
  )
})

describeInterop("keyProblem against Python mlflow 3.18.0", () => {
  it.effect(
    `agrees with mlflow's own _validate_metric_name / _validate_metric on ${table.length} keys`,
    () =>
      Effect.gen(function* () {
        const result = yield* Effect.promise(() => mlflowVerdicts!)
        assert.strictEqual(result.code, 0, result.stderr)
        const verdicts = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "") as {
          readonly version: string
          readonly name: ReadonlyArray<boolean>
          readonly full: ReadonlyArray<boolean>
          readonly limits: ReadonlyArray<number>
        }
        assert.strictEqual(verdicts.version, "3.18.0")
        assert.lengthOf(verdicts.full, table.length)
        const disagreements = table.flatMap((key, i) => {
          const ours = keyProblem(key) === undefined
          return ours === verdicts.full[i] ? [] : [`${JSON.stringify(key)}: mlflow ${verdicts.full[i]}, ours ${ours}`]
        })
        assert.deepStrictEqual(disagreements, [])
        // The table's own labels are what MLflow says too.
        table.forEach((key, i) => {
          assert.strictEqual(verdicts.full[i], accepted.includes(key), JSON.stringify(key))
          if ([...key].length <= 250) assert.strictEqual(verdicts.name[i], verdicts.full[i], JSON.stringify(key))
        })
        assert.deepStrictEqual(verdicts.limits, [
          MlflowLimits.metricsPerBatch,
          MlflowLimits.paramsTagsPerBatch,
          MlflowLimits.entitiesPerBatch,
          MlflowLimits.keyLength,
          MlflowLimits.paramValueLength,
          MlflowLimits.tagValueLength,
          MlflowLimits.experimentNameLength
        ])
      }),
    30_000
  )
})

describe("validateMetric", () => {
  it.effect("NaN and ±Infinity values are accepted", () =>
    Effect.sync(() => {
      for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1e308, -5]) {
        assert.isUndefined(validateMetric(metric("m", value)), String(value))
      }
    })
  )

  it.effect("timestamps are non-negative integers", () =>
    Effect.sync(() => {
      assert.isUndefined(validateMetric(metric("m", 1, 0, 0)))
      for (const timestamp of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
        const error = validateMetric(metric("m", 1, 0, timestamp))
        assert.strictEqual(error?.path, "timestamp of metric m", String(timestamp))
        assert.strictEqual(error?.rule, "timestamps are non-negative integers (epoch milliseconds)")
      }
    })
  )

  it.effect("steps are integers, negative ones included", () =>
    Effect.sync(() => {
      assert.isUndefined(validateMetric(metric("m", 1, -3)))
      assert.isUndefined(validateMetric(metric("m", 1, 1_000_000)))
      for (const step of [0.5, Number.NaN, Number.NEGATIVE_INFINITY]) {
        const error = validateMetric(metric("m", 1, step))
        assert.strictEqual(error?.path, "step of metric m", String(step))
        assert.strictEqual(error?.rule, "steps are integers")
      }
    })
  )

  it.effect("a bad metric key is reported first", () =>
    Effect.sync(() => {
      assert.strictEqual(validateMetric(metric("../m", 1, 0.5, -1))?.path, "metric key")
    })
  )
})

describe("validateExperimentName", () => {
  it.effect("rejects blank and over-long names", () =>
    Effect.sync(() => {
      assert.isUndefined(validateExperimentName("my experiment / v2"))
      assert.isUndefined(validateExperimentName("e".repeat(500)))
      expect(validateExperimentName("   ")?.rule).toMatch(/must not be blank/)
      expect(validateExperimentName("")?.rule).toMatch(/must not be blank/)
      expect(validateExperimentName("e".repeat(501))?.rule).toMatch(/at most 500 characters/)
    })
  )
})

describe("validateBatch", () => {
  it.effect("accepts a valid batch and an empty one", () =>
    Effect.sync(() => {
      assert.isUndefined(validateBatch({}))
      assert.isUndefined(
        validateBatch({
          metrics: [metric("loss", Number.NaN), metric("loss", 0.5, 1)],
          params: [{ key: "lr", value: "0.1" }],
          tags: [{ key: "mlflow.note.content", value: "hello" }]
        })
      )
    })
  )

  it.effect("one param key with two different values in a batch is rejected", () =>
    Effect.sync(() => {
      const error = validateBatch({
        params: [
          { key: "lr", value: "0.1" },
          { key: "epochs", value: "3" },
          { key: "lr", value: "0.2" }
        ]
      })
      assert.instanceOf(error, MlflowValidationError)
      assert.strictEqual(error?.path, "param lr")
      assert.strictEqual(error?.value, "0.2")
      expect(error?.rule).toMatch(/write-once .* "0\.1"/)
    })
  )

  it.effect("the same param twice with the same value is not a conflict", () =>
    Effect.sync(() => {
      assert.isUndefined(
        validateBatch({
          params: [
            { key: "lr", value: "0.1" },
            { key: "lr", value: "0.1" }
          ]
        })
      )
    })
  )

  it.effect("reports the first broken entry of any kind", () =>
    Effect.sync(() => {
      assert.strictEqual(validateBatch({ metrics: [metric("ok"), metric("bad$")] })?.value, "bad$")
      assert.strictEqual(validateBatch({ params: [{ key: "p", value: "x".repeat(6001) }] })?.path, "value of param p")
      assert.strictEqual(validateBatch({ tags: [{ key: "", value: "v" }] })?.path, "tag key")
    })
  )
})

describe("chunkBatch", () => {
  const limitsHold = (chunk: LogBatch) => {
    const m = chunk.metrics?.length ?? 0
    const p = chunk.params?.length ?? 0
    const t = chunk.tags?.length ?? 0
    expect(m).toBeLessThanOrEqual(1000)
    expect(p).toBeLessThanOrEqual(100)
    expect(t).toBeLessThanOrEqual(100)
    expect(m + p + t).toBeLessThanOrEqual(1000)
  }

  it.effect("2500 metrics + 250 params + 130 tags: every chunk within limits, order kept, nothing lost", () =>
    Effect.sync(() => {
      const metrics: Array<Metric> = Array.from({ length: 2500 }, (_, i) => metric(`m${i % 7}`, i, i))
      const params: Array<Param> = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: String(i) }))
      const tags: Array<Tag> = Array.from({ length: 130 }, (_, i) => ({ key: `t${i}`, value: String(i) }))
      const chunks = chunkBatch({ metrics, params, tags })
      for (const chunk of chunks) limitsHold(chunk)
      assert.deepStrictEqual(
        chunks.flatMap((chunk) => chunk.metrics ?? []),
        metrics
      )
      assert.deepStrictEqual(
        chunks.flatMap((chunk) => chunk.params ?? []),
        params
      )
      assert.deepStrictEqual(
        chunks.flatMap((chunk) => chunk.tags ?? []),
        tags
      )
      // 2880 entities need at least 3 calls; the chunking should not waste more.
      assert.lengthOf(chunks, 3)
      for (const chunk of chunks) {
        const size = (chunk.metrics?.length ?? 0) + (chunk.params?.length ?? 0) + (chunk.tags?.length ?? 0)
        expect(size).toBeGreaterThan(0)
      }
    })
  )

  it.effect("metrics alone are cut at 1000; params and tags alone at 100", () =>
    Effect.sync(() => {
      const metrics = chunkBatch({ metrics: Array.from({ length: 2001 }, (_, i) => metric("m", i, i)) })
      assert.deepStrictEqual(
        metrics.map((chunk) => chunk.metrics?.length ?? 0),
        [1000, 1000, 1]
      )
      const params = chunkBatch({ params: Array.from({ length: 201 }, (_, i) => ({ key: `p${i}`, value: "v" })) })
      assert.deepStrictEqual(
        params.map((chunk) => chunk.params?.length ?? 0),
        [100, 100, 1]
      )
      const tags = chunkBatch({ tags: Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: "v" })) })
      assert.deepStrictEqual(
        tags.map((chunk) => chunk.tags?.length ?? 0),
        [100]
      )
    })
  )

  it.effect("a batch within limits stays one chunk; an empty batch needs no call", () =>
    Effect.sync(() => {
      const batch: LogBatch = {
        metrics: [metric("a"), metric("b")],
        params: [{ key: "p", value: "1" }],
        tags: [{ key: "t", value: "2" }]
      }
      const chunks = chunkBatch(batch)
      assert.lengthOf(chunks, 1)
      assert.deepStrictEqual(chunks[0]!.metrics, batch.metrics)
      assert.deepStrictEqual(chunks[0]!.params, batch.params)
      assert.deepStrictEqual(chunks[0]!.tags, batch.tags)
      assert.deepStrictEqual(chunkBatch({}), [])
      assert.deepStrictEqual(chunkBatch({ metrics: [], params: undefined }), [])
    })
  )

  it.effect("does not modify the input batch", () =>
    Effect.sync(() => {
      const metrics = Array.from({ length: 1500 }, (_, i) => metric("m", i, i))
      const batch: LogBatch = { metrics }
      chunkBatch(batch)
      assert.lengthOf(metrics, 1500)
      assert.strictEqual(batch.metrics, metrics)
    })
  )
})
