/**
 * Schema helpers shared by the configuration schemas.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * Makes a struct field optional in input and fills `value` when the key is absent, both when decoding
 * untrusted input and when constructing with `new`/`make`. The default is the *decoded* value, so it is
 * never re-validated or coerced. The default (and `description`, if given) are annotated on the field's own
 * schema, where the JSON Schema of configuration files picks them up.
 */
export const withDefault =
  <S extends Schema.Top & Schema.WithoutConstructorDefault>(
    value: S["Type"] & S["~type.make.in"],
    description?: string
  ) =>
  (schema: S) =>
    // `annotate` keeps the schema's type; the cast only restores what a generic S cannot show.
    (schema.annotate(description === undefined ? { default: value } : { default: value, description }) as S).pipe(
      Schema.withDecodingDefaultTypeKey(Effect.succeed(value)),
      Schema.withConstructorDefault(Effect.succeed(value))
    )

/**
 * Options for every decode of user configuration: unknown keys are errors, every issue is reported, and
 * issues keep the rejected value so messages can quote it.
 */
export const strictParseOptions = { onExcessProperty: "error", errors: "all", reportInput: true } as const

/**
 * Freezes a value and everything reachable from it, so a decoded configuration cannot be changed after
 * validation (the Python original's pydantic `frozen=True`, applied deeply).
 */
export const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Reflect.ownKeys(value)) {
      deepFreeze((value as Record<PropertyKey, unknown>)[key])
    }
  }
  return value
}
