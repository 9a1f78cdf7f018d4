/**
 * The job kinds a CLI knows: the configuration schema they make (`{ job: <one kind, chosen by KIND> }`), its
 * JSON Schema, and loading more kinds from a module (`--jobs`).
 *
 * @module
 */
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ConfigError } from "../config/decode.js"
import { decodeLoaded, type LoadedConfig } from "../config/load.js"
import { type AnyJob, isJobClass, type JobClass } from "../jobs/base.js"

/** A job kind the CLI can run: a concrete job class. */
export type JobKind = JobClass<AnyJob>

/** What a configuration file decodes to: the job to run. */
export interface Settings {
  readonly job: AnyJob
}

/** Kinds by their KIND, refusing two kinds with the same name (the config could not tell them apart). */
export const registry = (kinds: ReadonlyArray<JobKind>): Effect.Effect<ReadonlyMap<string, JobKind>, ConfigError> =>
  Effect.suspend(() => {
    const byKind = new Map<string, JobKind>()
    for (const kind of kinds) {
      const existing = byKind.get(kind.KIND)
      if (existing !== undefined && existing !== kind) {
        return Effect.fail(
          new ConfigError({
            source: "job kinds",
            issues: [{ path: "KIND", message: `two job kinds are named ${JSON.stringify(kind.KIND)}` }]
          })
        )
      }
      byKind.set(kind.KIND, kind)
    }
    return Effect.succeed(byKind)
  })

/**
 * Loads the job kinds a module exports (any export that is a concrete job class), for `--jobs <module>`.
 * A path is resolved against `cwd`; a bare name is imported as a package.
 */
export const loadJobModule = (
  specifier: string,
  cwd: string = process.cwd()
): Effect.Effect<ReadonlyArray<JobKind>, ConfigError> => {
  const isPath = specifier.startsWith(".") || specifier.startsWith("/")
  const target = isPath ? pathToFileURL(resolve(cwd, specifier)).href : specifier
  const failure = (message: string) =>
    new ConfigError({ source: `--jobs ${specifier}`, issues: [{ path: "", message }] })
  return Effect.tryPromise({
    try: () => import(target) as Promise<Record<string, unknown>>,
    catch: (cause) => failure(`cannot load the module: ${cause instanceof Error ? cause.message : String(cause)}`)
  }).pipe(
    Effect.flatMap((module) => {
      const kinds = Object.values(module).filter(isJobClass)
      return kinds.length === 0
        ? Effect.fail(failure("the module exports no job class (a subclass of Job(...) that implements run())"))
        : Effect.succeed(kinds)
    })
  )
}

/** The schema of a configuration file for these kinds: `{ job: <one of the kinds> }`. */
export const settingsSchema = (kinds: ReadonlyArray<JobKind>) =>
  Schema.Struct({
    job: Schema.Union(kinds).annotate({ description: "The job to run; its KIND selects the job kind." })
  })

/**
 * Decodes a loaded configuration into the job to run. The job's KIND is looked up first, so an unknown or
 * missing KIND is one clear issue naming the registered kinds, rather than every kind's complaints.
 */
export const decodeSettings = (
  kinds: ReadonlyMap<string, JobKind>,
  loaded: LoadedConfig
): Effect.Effect<Settings, ConfigError> => {
  const names = [...kinds.keys()].join(", ")
  const value = loaded.value
  const job = typeof value === "object" && value !== null ? (value as Record<string, unknown>).job : undefined
  const kindName = typeof job === "object" && job !== null ? (job as Record<string, unknown>).KIND : undefined
  const problem = (path: ReadonlyArray<string>, message: string) => {
    const location = loaded.locate(path)
    return Effect.fail(
      new ConfigError({
        source: loaded.sources.join(", "),
        issues: [{ path: path.join("."), message, ...location }]
      })
    )
  }
  if (typeof job !== "object" || job === null || Array.isArray(job))
    return problem(["job"], `missing: a mapping with the job's KIND (one of: ${names})`)
  if (kindName === undefined) return problem(["job", "KIND"], `missing: the kind of job to run (one of: ${names})`)
  const kind = typeof kindName === "string" ? kinds.get(kindName) : undefined
  if (kind === undefined) {
    return problem(["job", "KIND"], `unknown job kind ${JSON.stringify(kindName)}; registered kinds: ${names}`)
  }
  return decodeLoaded(Schema.Struct({ job: kind }), loaded)
}

/**
 * The JSON Schema (draft 2020-12) of configuration files for these kinds, with every default and
 * description; unknown keys are refused, as the decoder refuses them. `KIND` is required in a file (it
 * only defaults when a job is constructed in code), as {@link decodeSettings} requires it.
 */
export const jsonSchema = (kinds: ReadonlyArray<JobKind>): Record<string, unknown> => {
  const document = Schema.toJsonSchemaDocument(settingsSchema(kinds), { onExcessProperty: "error" })
  const definitions = Object.fromEntries(
    Object.entries(document.definitions).map(([name, definition]) => [name, requireKind(definition)])
  )
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "autogen-team job configuration",
    ...document.schema,
    $defs: definitions
  }
}

const requireKind = <D>(definition: D): D => {
  const object = definition as { readonly properties?: Record<string, unknown>; readonly required?: Array<string> }
  if (object.properties?.KIND === undefined) return definition
  const required = object.required ?? []
  return (required.includes("KIND") ? definition : { ...object, required: ["KIND", ...required] }) as D
}
