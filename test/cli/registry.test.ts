/**
 * src/cli/registry.ts: the kinds a CLI knows, loading more from a module (`--jobs`), decoding a configuration
 * into one of them by its KIND, and the JSON Schema they make.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { TuningJob } from "../../examples/tuning.js"
import { decodeSettings, jsonSchema, loadJobModule, registry } from "../../src/cli/registry.js"
import { loadConfig } from "../../src/config/load.js"
import { Job } from "../../src/jobs/base.js"
import { CommandJob } from "../../src/jobs/command.js"
import { tempDir, tuningModule } from "../fixtures/cli-harness.js"

class OtherCommandJob extends Job<OtherCommandJob>()("CommandJob", { other: Schema.String }) {
  run() {
    return Effect.succeed({})
  }
}

const issuesOf = (error: { readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }> }) =>
  error.issues.map((issue) => `${issue.path}: ${issue.message}`)

describe("registry", () => {
  it.effect("maps each KIND to its class; the same class twice is one kind", () =>
    Effect.gen(function* () {
      const byKind = yield* registry([CommandJob, TuningJob, CommandJob])
      expect([...byKind.entries()]).toEqual([
        ["CommandJob", CommandJob],
        ["TuningJob", TuningJob]
      ])
    })
  )

  it.effect("refuses two different classes with the same KIND: a configuration could not tell them apart", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(registry([CommandJob, OtherCommandJob]))
      expect(error._tag).toBe("ConfigError")
      expect(issuesOf(error)).toEqual(['KIND: two job kinds are named "CommandJob"'])
    })
  )
})

describe("loadJobModule", () => {
  it.effect("loads every job class a module exports, by path or file URL", () =>
    Effect.gen(function* () {
      expect(yield* loadJobModule(tuningModule)).toEqual([expect.objectContaining({ KIND: "TuningJob" })])
      expect(yield* loadJobModule(pathToFileURL(tuningModule).href)).toHaveLength(1)
      // A relative path is resolved against the given directory.
      const relative = yield* loadJobModule("./examples/tuning.js", join(tuningModule, "..", ".."))
      expect(relative.map((kind) => kind.KIND)).toEqual(["TuningJob"])
    })
  )

  it.effect("a module that cannot be loaded is a ConfigError naming it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(loadJobModule("./no/such/module.js", tempDir()))
      expect(error.message).toContain("--jobs ./no/such/module.js")
      expect(error.message).toMatch(/cannot load the module/)
    })
  )

  it.effect("a module without job classes is a ConfigError saying so", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeFileSync(join(dir, "plain.mjs"), "export const answer = 42\nexport class NotAJob {}\n")
      const error = yield* Effect.flip(loadJobModule("./plain.mjs", dir))
      expect(error.message).toMatch(/exports no job class/)
    })
  )
})

describe("decodeSettings", () => {
  const decode = (document: unknown) =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeFileSync(join(dir, "conf.json"), JSON.stringify(document))
      const loaded = yield* loadConfig({ files: ["conf.json"], cwd: dir })
      return yield* decodeSettings(yield* registry([CommandJob, TuningJob]), loaded)
    })

  it.effect("picks the kind by KIND and decodes strictly into it", () =>
    Effect.gen(function* () {
      const settings = yield* decode({ job: { KIND: "CommandJob", command: ["true"] } })
      expect(settings.job).toBeInstanceOf(CommandJob)
      expect(settings.job.KIND).toBe("CommandJob")
      const tuning = yield* decode({
        job: { KIND: "TuningJob", learning_rates: [0.1], l2_penalties: [0], epochs: 1, samples: 20, seed: 1 }
      })
      expect(tuning.job).toBeInstanceOf(TuningJob)
    })
  )

  it.effect("one clear issue for a missing job, a missing KIND or an unknown KIND, with the known kinds", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{}, "job: missing: a mapping with the job's KIND (one of: CommandJob, TuningJob)"],
        [{ job: [] }, "job: missing: a mapping with the job's KIND (one of: CommandJob, TuningJob)"],
        [{ job: { command: ["true"] } }, "job.KIND: missing: the kind of job to run (one of: CommandJob, TuningJob)"],
        [{ job: { KIND: "Nope" } }, 'job.KIND: unknown job kind "Nope"; registered kinds: CommandJob, TuningJob'],
        [{ job: { KIND: 3 } }, "job.KIND: unknown job kind 3; registered kinds: CommandJob, TuningJob"]
      ]
      for (const [document, expected] of cases) {
        const error = yield* Effect.flip(decode(document))
        expect(issuesOf(error), JSON.stringify(document)).toEqual([expected])
      }
    })
  )

  it.effect("the kind's own errors once KIND is known: unknown keys and wrong types, with their paths", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decode({ job: { KIND: "CommandJob", command: "true", bogus: 1 } }))
      expect(issuesOf(error)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^job\.command: /), "job.bogus: unknown key"])
      )
    })
  )
})

describe("jsonSchema", () => {
  it("one definition per kind, KIND required and constant, unknown keys refused at every level", () => {
    const schema = jsonSchema([CommandJob, TuningJob]) as {
      properties: { job: { anyOf: ReadonlyArray<{ $ref: string }> } }
      required: ReadonlyArray<string>
      additionalProperties: boolean
      $defs: Record<
        string,
        {
          required: ReadonlyArray<string>
          additionalProperties: boolean
          properties: Record<string, { additionalProperties?: boolean }>
        }
      >
    }
    expect(schema.required).toEqual(["job"])
    expect(schema.additionalProperties).toBe(false)
    const definitions = schema.properties.job.anyOf.map((ref) => schema.$defs[ref.$ref.replace("#/$defs/", "")]!)
    expect(definitions).toHaveLength(2)
    for (const definition of definitions) {
      expect(definition.required).toContain("KIND")
      expect(definition.additionalProperties).toBe(false)
      expect(definition.properties.logger_service?.additionalProperties).toBe(false)
    }
    expect(definitions.map((definition) => definition.properties.KIND)).toEqual([
      expect.objectContaining({ enum: ["CommandJob"] }),
      expect.objectContaining({ enum: ["TuningJob"] })
    ])
  })
})
