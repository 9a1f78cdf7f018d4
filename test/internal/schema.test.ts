import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { deepFreeze, strictParseOptions, withDefault } from "../../src/internal/schema.js"

const Options = Schema.Struct({
  level: Schema.String.pipe(withDefault("INFO")),
  retries: Schema.Int.pipe(withDefault(3)),
  // A transforming schema: the default is its decoded (Type) value, never decoded again.
  port: Schema.NumberFromString.pipe(withDefault(8080)),
  nested: Schema.Struct({ on: Schema.Boolean.pipe(withDefault(false)) }).pipe(withDefault({ on: false }))
})

describe("withDefault", () => {
  it.effect("fills absent keys when decoding", () =>
    Effect.gen(function* () {
      const decoded = yield* Schema.decodeUnknownEffect(Options)({})
      assert.deepStrictEqual(decoded, { level: "INFO", retries: 3, port: 8080, nested: { on: false } })
      const partial = yield* Schema.decodeUnknownEffect(Options)({ nested: {} })
      assert.deepStrictEqual(partial.nested, { on: false })
    })
  )

  it.effect("does not override a given value", () =>
    Effect.gen(function* () {
      const decoded = yield* Schema.decodeUnknownEffect(Options)({
        level: "DEBUG",
        retries: 0,
        port: "9000",
        nested: { on: true }
      })
      assert.deepStrictEqual(decoded, { level: "DEBUG", retries: 0, port: 9000, nested: { on: true } })
    })
  )

  it.effect("a given value is still validated: undefined and wrong types are errors, not defaults", () =>
    Effect.gen(function* () {
      const wrong = yield* Effect.flip(Schema.decodeUnknownEffect(Options)({ retries: "3" }))
      expect(String(wrong)).toContain("retries")
      const undef = yield* Effect.flip(Schema.decodeUnknownEffect(Options)({ level: undefined }))
      expect(String(undef)).toContain("level")
      // The encoded side of a transforming field is checked too: a number is not the string it expects.
      const encodedSide = yield* Effect.flip(Schema.decodeUnknownEffect(Options)({ port: 9000 }))
      expect(String(encodedSide)).toContain("port")
    })
  )

  it.effect("fills absent keys on construction (make / new)", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(Options.make({}), { level: "INFO", retries: 3, port: 8080, nested: { on: false } })
      assert.deepStrictEqual(Options.make({ retries: 5 }).retries, 5)
      class Job extends Schema.Class<Job>("Job")({ epochs: Schema.Int.pipe(withDefault(10)) }) {}
      assert.strictEqual(new Job({}).epochs, 10)
      assert.strictEqual(new Job({ epochs: 2 }).epochs, 2)
    })
  )

  it.effect("encoding a defaulted value gives its encoded form", () =>
    Effect.gen(function* () {
      const encoded = yield* Schema.encodeEffect(Options)(Options.make({}))
      assert.deepStrictEqual(encoded, { level: "INFO", retries: 3, port: "8080", nested: { on: false } })
    })
  )
})

describe("strictParseOptions", () => {
  it.effect("rejects excess properties and reports every issue", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(strictParseOptions, { onExcessProperty: "error", errors: "all", reportInput: true })
      const S = Schema.Struct({ a: Schema.Number, b: Schema.String })
      // Without the options: excess keys are dropped silently.
      assert.deepStrictEqual(yield* Schema.decodeUnknownEffect(S)({ a: 1, b: "x", c: true }), { a: 1, b: "x" })
      const error = yield* Effect.flip(Schema.decodeUnknownEffect(S)({ a: "1", b: 2, c: true }, strictParseOptions))
      const text = String(error)
      expect(text).toContain("Unexpected key with value true")
      expect(text).toContain('["a"]')
      expect(text).toContain('["b"]')
      expect(text).toContain('["c"]')
      // The default stops at the first issue.
      const first = String(yield* Effect.flip(Schema.decodeUnknownEffect(S)({ a: "1", b: 2 })))
      expect(first).not.toContain('["b"]')
    })
  )
})

describe("deepFreeze", () => {
  it.effect("freezes nested objects and arrays; assignment throws TypeError in strict mode", () =>
    Effect.sync(() => {
      const value = deepFreeze({ a: { b: { c: 1 } }, list: [{ x: 1 }, [2, 3]], text: "s" })
      assert.isTrue(Object.isFrozen(value))
      assert.isTrue(Object.isFrozen(value.a))
      assert.isTrue(Object.isFrozen(value.a.b))
      assert.isTrue(Object.isFrozen(value.list))
      assert.isTrue(Object.isFrozen(value.list[0]))
      assert.isTrue(Object.isFrozen(value.list[1]))
      // ES modules are strict mode: writes to frozen objects throw.
      const mutable = value as unknown as {
        a: { b: { c: number } }
        list: Array<unknown>
        text: string
        added?: number
      }
      expect(() => {
        mutable.a.b.c = 2
      }).toThrow(TypeError)
      expect(() => {
        mutable.text = "t"
      }).toThrow(TypeError)
      expect(() => {
        mutable.added = 1
      }).toThrow(TypeError)
      expect(() => mutable.list.push(4)).toThrow(TypeError)
      expect(() => {
        ;(mutable.list[1] as Array<number>)[0] = 9
      }).toThrow(TypeError)
      expect(() => {
        delete (mutable.a as { b?: unknown }).b
      }).toThrow(TypeError)
      assert.strictEqual(value.a.b.c, 1)
      assert.deepStrictEqual(value.list, [{ x: 1 }, [2, 3]])
    })
  )

  it.effect("returns the same value; primitives and null pass through; symbol keys are frozen too", () =>
    Effect.sync(() => {
      const key = Symbol("hidden")
      const input = { [key]: { deep: true } }
      assert.strictEqual(deepFreeze(input), input)
      assert.isTrue(Object.isFrozen(input[key]))
      assert.strictEqual(deepFreeze(5), 5)
      assert.strictEqual(deepFreeze("s"), "s")
      assert.strictEqual(deepFreeze(null), null)
      assert.strictEqual(deepFreeze(undefined), undefined)
    })
  )

  it.effect("handles cycles and shared references", () =>
    Effect.sync(() => {
      const shared = { n: 1 }
      const cyclic: { self?: unknown; a: typeof shared; b: typeof shared } = { a: shared, b: shared }
      cyclic.self = cyclic
      deepFreeze(cyclic)
      assert.isTrue(Object.isFrozen(cyclic))
      assert.isTrue(Object.isFrozen(shared))
    })
  )

  it.effect("freezes a decoded Schema.Class instance and its nested config", () =>
    Effect.gen(function* () {
      class Conf extends Schema.Class<Conf>("Conf")({
        inner: Schema.Struct({ values: Schema.Array(Schema.Number) })
      }) {}
      const conf = deepFreeze(yield* Schema.decodeUnknownEffect(Conf)({ inner: { values: [1, 2] } }))
      assert.isTrue(Object.isFrozen(conf))
      assert.isTrue(Object.isFrozen(conf.inner))
      assert.isTrue(Object.isFrozen(conf.inner.values))
      expect(() => (conf.inner.values as Array<number>).push(3)).toThrow(TypeError)
    })
  )
})
