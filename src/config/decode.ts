/**
 * Strict decoding of user configuration into validated values, with errors that name every offending path.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import { strictParseOptions } from "../internal/schema.js"

/**
 * Where a configuration value was written: a file path (as the user gave it) or another named source such as
 * `--extra #1`, with the 1-based line and column when known.
 */
export interface ConfigLocation {
  readonly source: string
  readonly line?: number
  readonly column?: number
}

/**
 * One problem in a configuration: where (a dotted path, `[i]` for list items) and what is wrong; when the
 * configuration came from files, also the file (or `--extra #n`), line and column that provided the value.
 */
export interface ConfigIssue extends Partial<ConfigLocation> {
  readonly path: string
  readonly message: string
}

// Renders one issue line. A located issue leads with `source:line:column` (the form editors and terminals turn
// into links); an issue about a whole source (empty path) needs no `(root)`, its location already says which.
const renderIssue = (issue: ConfigIssue): string => {
  const where =
    issue.source === undefined
      ? undefined
      : issue.line === undefined
        ? issue.source
        : `${issue.source}:${issue.line}${issue.column === undefined ? "" : `:${issue.column}`}`
  if (where === undefined) return `  - ${issue.path === "" ? "(root)" : issue.path}: ${issue.message}`
  return issue.path === "" ? `  - ${where}: ${issue.message}` : `  - ${where} ${issue.path}: ${issue.message}`
}

/**
 * A configuration was rejected. `source` names where it came from (a file, several files joined with `, `, or
 * `<input>`); each issue may carry its own location. The message lists one issue per line, as
 * `<path>: <message>`, or `<source>:<line>:<column> <path>: <message>` for a located issue.
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  source: Schema.String,
  issues: Schema.Array(
    Schema.Struct({
      path: Schema.String,
      message: Schema.String,
      source: Schema.optionalKey(Schema.String),
      line: Schema.optionalKey(Schema.Int),
      column: Schema.optionalKey(Schema.Int)
    })
  )
}) {
  override get message(): string {
    return `invalid configuration in ${this.source}:\n${this.issues.map(renderIssue).join("\n")}`
  }
}

// Messages quote the rejected value ("Expected number, got \"1\""), except for unknown keys: a misspelled key
// is the likeliest place for a secret to land, and its name already says what is wrong.
const formatter = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => (issue._tag === "UnexpectedKey" ? "unknown key" : SchemaIssue.defaultLeafHook(issue))
})

/** Renders a schema path the way users write config keys: `job.logger_service.level`, `items[2]`. */
export const formatPath = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>): string =>
  path
    .map((segment) => (typeof segment === "object" ? segment.key : segment))
    .reduce<string>((text, key) => {
      if (typeof key === "number") return `${text}[${key}]`
      const name = String(key)
      return text === "" ? name : `${text}.${name}`
    }, "")

/**
 * Finds where the value at a raw schema path (keys and list indices, as the decoder saw them) was written, so
 * an issue can name its file, line and column. Returns `undefined` when the location is unknown.
 */
export type LocateIssue = (path: ReadonlyArray<PropertyKey>) => ConfigLocation | undefined

/**
 * Turns a schema failure into a {@link ConfigError} listing every issue with its path. With `locate`, each
 * issue is also annotated with the location of its raw path (the dotted form loses whether `"0"` was a key or
 * an index, so locating must happen here, before formatting).
 */
export const toConfigError = (source: string, error: Schema.SchemaError, locate?: LocateIssue): ConfigError =>
  new ConfigError({
    source,
    issues: formatter(error.issue).issues.map((issue): ConfigIssue => {
      const path = (issue.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment))
      const location = locate?.(path)
      return location === undefined
        ? { path: formatPath(path), message: issue.message }
        : { path: formatPath(path), message: issue.message, ...location }
    })
  })

/**
 * Decodes untrusted input strictly: unknown keys are errors, nothing is coerced (`"1"` is not a number),
 * and every issue is reported, not just the first. `locate`, when given, annotates each issue with where its
 * value was written (see {@link toConfigError}).
 */
export const decodeConfig =
  <S extends Schema.Constraint & { readonly DecodingServices: never }>(schema: S) =>
  (input: unknown, source = "<input>", locate?: LocateIssue): Effect.Effect<S["Type"], ConfigError> =>
    Schema.decodeUnknownEffect(schema)(input, strictParseOptions).pipe(
      Effect.mapError((error) => toConfigError(source, error, locate))
    )
