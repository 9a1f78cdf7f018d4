/**
 * Strict decoding of user configuration into validated values, with errors that name every offending path.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import { strictParseOptions } from "../internal/schema.js"

/** One problem in a configuration: where (a dotted path, `[i]` for list items) and what is wrong. */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

/** A configuration was rejected. `source` names where it came from (a file, or `<input>`). */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  source: Schema.String,
  issues: Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String }))
}) {
  override get message(): string {
    const lines = this.issues.map((issue) => `  - ${issue.path === "" ? "(root)" : issue.path}: ${issue.message}`)
    return `invalid configuration in ${this.source}:\n${lines.join("\n")}`
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

/** Turns a schema failure into a {@link ConfigError} listing every issue with its path. */
export const toConfigError = (source: string, error: Schema.SchemaError): ConfigError =>
  new ConfigError({
    source,
    issues: formatter(error.issue).issues.map((issue) => ({
      path: formatPath(issue.path ?? []),
      message: issue.message
    }))
  })

/**
 * Decodes untrusted input strictly: unknown keys are errors, nothing is coerced (`"1"` is not a number),
 * and every issue is reported, not just the first.
 */
export const decodeConfig =
  <S extends Schema.Constraint & { readonly DecodingServices: never }>(schema: S) =>
  (input: unknown, source = "<input>"): Effect.Effect<S["Type"], ConfigError> =>
    Schema.decodeUnknownEffect(schema)(input, strictParseOptions).pipe(
      Effect.mapError((error) => toConfigError(source, error))
    )
