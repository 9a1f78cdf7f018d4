/**
 * Loads a configuration from YAML/JSON files and inline `--extra` overrides: each layer is parsed, the layers
 * are deep-merged in order, `${env:NAME}` references are resolved, and every value keeps the file, line and
 * column it came from, so schema errors can point at the line to fix.
 *
 * @module
 */
import { readFile } from "node:fs/promises"
import { resolve } from "node:path"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type YAMLError,
  type Node as YamlNode
} from "yaml"
import { deepFreeze } from "../internal/schema.js"
import { ConfigError, type ConfigIssue, type ConfigLocation, decodeConfig, formatPath } from "./decode.js"

export type { ConfigLocation }

/** What {@link loadConfig} reads. */
export interface LoadConfigOptions {
  /** Configuration files, merged in order (later files win). Relative paths are resolved against `cwd`. */
  readonly files: ReadonlyArray<string>
  /**
   * Inline YAML (or JSON) documents, as given with `-e/--extra`, merged after the files in order. They are
   * named `--extra #1`, `--extra #2`, … in errors.
   */
  readonly extras?: ReadonlyArray<string>
  /** The environment `${env:NAME}` reads from. Defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The directory relative file paths are resolved against. Defaults to `process.cwd()`. */
  readonly cwd?: string
}

/** A merged configuration and where each of its values was written. */
export interface LoadedConfig {
  /** The merged document as plain, deeply frozen JS data (a record at the top level); not yet validated. */
  readonly value: unknown
  /** Every source in merge order: the files as given, then `--extra #1`, `--extra #2`, … */
  readonly sources: ReadonlyArray<string>
  /**
   * Where the value at `path` was written (the layer that wrote it last). A mapping entry is located at its
   * key, a list item at the item. A path that does not exist gives the location of its nearest existing
   * ancestor, so a missing key points at the mapping that lacks it. `undefined` only when nothing was loaded.
   */
  readonly locate: (path: ReadonlyArray<string | number>) => ConfigLocation | undefined
}

// The configuration as a tree that keeps a location on every node. Values and locations live in one structure
// so that merging and interpolation can never let them drift apart; the plain value is derived at the end.
type Tree =
  | { readonly kind: "scalar"; readonly value: string | number | boolean | null; readonly location: ConfigLocation }
  | { readonly kind: "mapping"; readonly entries: ReadonlyMap<string, Tree>; readonly location: ConfigLocation }
  | { readonly kind: "sequence"; readonly items: ReadonlyArray<Tree>; readonly location: ConfigLocation }

// An alias expands its anchor's whole subtree at every use, so a few lines of nested aliases can describe
// billions of nodes ("billion laughs"). A real configuration never comes close to this many expanded nodes.
const maxAliasExpansion = 100_000

interface ParseContext {
  readonly doc: Document.Parsed
  readonly lineCounter: LineCounter
  readonly source: string
  readonly issues: Array<ConfigIssue>
  // Collections being converted, to refuse an alias to one of its own ancestors (an infinitely deep value).
  readonly open: Set<YamlNode>
  aliasDepth: number
  aliasNodes: number
  // The outermost alias being expanded: where an excessive expansion is reported (the user wrote it there).
  aliasSite: { readonly location: ConfigLocation; readonly path: ReadonlyArray<string | number> } | undefined
}

const locationAt = (lineCounter: LineCounter, source: string, offset: number | undefined): ConfigLocation => {
  if (offset === undefined) return { source }
  const { line, col } = lineCounter.linePos(offset)
  // linePos reports line 0 only for an offset it cannot place; a location without a line beats a wrong one.
  return line === 0 ? { source } : { source, line, column: col }
}

const nodeLocation = (ctx: ParseContext, node: YamlNode | null | undefined, fallback: ConfigLocation) =>
  node?.range === undefined || node.range === null ? fallback : locationAt(ctx.lineCounter, ctx.source, node.range[0])

const issueAt = (
  ctx: ParseContext,
  location: ConfigLocation,
  path: ReadonlyArray<string | number>,
  message: string
) => {
  ctx.issues.push({ path: formatPath(path), message, ...location })
}

// With `merge: true` the parser resolves a plain `<<` key to this symbol; a quoted "<<" stays an ordinary key.
const isMergeKey = (key: unknown): boolean =>
  isScalar(key) && typeof key.value === "symbol" && key.value.description === "<<"

// Keys become object property names the way yaml's own toJS names them (`1` → "1", `null` → ""), so a
// configuration means the same here as in any other yaml-based tool.
const keyName = (ctx: ParseContext, key: unknown): string | undefined => {
  const node = isAlias(key) ? key.resolve(ctx.doc) : key
  if (node === null || node === undefined) return ""
  if (isScalar(node)) {
    const value = node.value
    if (value === null) return ""
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return String(value)
  }
  return undefined
}

const convert = (
  ctx: ParseContext,
  node: YamlNode | null | undefined,
  location: ConfigLocation,
  path: ReadonlyArray<string | number>
): Tree | undefined => {
  if (ctx.aliasDepth > 0 && ++ctx.aliasNodes > maxAliasExpansion) {
    if (ctx.aliasNodes === maxAliasExpansion + 1) {
      const site = ctx.aliasSite ?? { location, path }
      issueAt(
        ctx,
        site.location,
        site.path,
        `aliases expand to more than ${maxAliasExpansion} values; refusing to load`
      )
    }
    return undefined
  }
  // `key:` with nothing after it is an empty value: null, as in every YAML reader.
  if (node === null || node === undefined) return { kind: "scalar", value: null, location }
  if (isAlias(node)) {
    const target = node.resolve(ctx.doc)
    if (target === undefined) {
      issueAt(ctx, location, path, `unknown alias *${node.source} (its anchor &${node.source} must come before it)`)
      return undefined
    }
    if (ctx.open.has(target)) {
      issueAt(ctx, location, path, `alias *${node.source} refers to a collection that contains it`)
      return undefined
    }
    if (ctx.aliasDepth === 0) ctx.aliasSite = { location, path }
    ctx.aliasDepth++
    try {
      return convert(ctx, target, location, path)
    } finally {
      ctx.aliasDepth--
    }
  }
  if (isScalar(node)) {
    const value = node.value
    if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      return { kind: "scalar", value, location }
    }
    // Only YAML 1.1 tags (timestamps, !!binary) produce other values; configurations must stay plain data.
    issueAt(ctx, location, path, "unsupported value: only strings, numbers, booleans and null (quote it)")
    return undefined
  }
  if (isMap(node)) {
    ctx.open.add(node)
    const entries = new Map<string, Tree>()
    for (const pair of node.items) {
      if (isMergeKey(pair.key)) {
        mergeInto(ctx, entries, pair.value as YamlNode | null, nodeLocation(ctx, pair.key as YamlNode, location), path)
        continue
      }
      const keyLocation = nodeLocation(ctx, (pair.key ?? pair.value) as YamlNode | null, location)
      const name = keyName(ctx, pair.key)
      if (name === undefined) {
        issueAt(ctx, keyLocation, path, "keys must be strings, numbers, booleans or null, not lists or mappings")
        continue
      }
      const child = convert(ctx, pair.value as YamlNode | null, keyLocation, [...path, name])
      if (child !== undefined) entries.set(name, child)
    }
    ctx.open.delete(node)
    return { kind: "mapping", entries, location }
  }
  if (isSeq(node)) {
    ctx.open.add(node)
    const items: Array<Tree> = []
    node.items.forEach((item, index) => {
      const child = convert(ctx, item as YamlNode | null, nodeLocation(ctx, item as YamlNode | null, location), [
        ...path,
        index
      ])
      if (child !== undefined) items.push(child)
    })
    ctx.open.delete(node)
    return { kind: "sequence", items, location }
  }
  issueAt(ctx, location, path, "unsupported YAML node")
  return undefined
}

// YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`): the mappings' entries are added unless the mapping already
// has the key; explicit keys after `<<` override them too. Same semantics as the yaml package's own toJS.
const mergeInto = (
  ctx: ParseContext,
  entries: Map<string, Tree>,
  value: YamlNode | null,
  location: ConfigLocation,
  path: ReadonlyArray<string | number>
): void => {
  const sources = isSeq(value) ? (value.items as Array<YamlNode | null>) : [value]
  for (const source of sources) {
    const tree = convert(ctx, source, nodeLocation(ctx, source, location), path)
    if (tree === undefined) continue
    if (tree.kind !== "mapping") {
      issueAt(ctx, tree.location, path, "a merge key (<<) needs a mapping or a list of mappings")
      continue
    }
    for (const [key, child] of tree.entries) if (!entries.has(key)) entries.set(key, child)
  }
}

const describe = (node: unknown): string =>
  isSeq(node) ? "a list" : isScalar(node) ? (node.value === null ? "null" : "a single value") : "an alias"

const parseLayer = (text: string, source: string): Effect.Effect<Tree, ConfigError> =>
  Effect.suspend(() => {
    const lineCounter = new LineCounter()
    // prettyErrors off: the message stays the parser's own sentence; the location is rendered by ConfigError.
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true })
    const fail = (issues: ReadonlyArray<ConfigIssue>) => Effect.fail(new ConfigError({ source, issues }))
    if (doc.errors.length > 0) {
      return fail(
        doc.errors.map((error: YAMLError) => ({
          path: "",
          message: error.message,
          ...locationAt(lineCounter, source, error.pos[0])
        }))
      )
    }
    const start: ConfigLocation = { source, line: 1, column: 1 }
    // A file of only comments (or nothing) is an empty layer: handy for an optional override file.
    if (doc.contents === null) return Effect.succeed<Tree>({ kind: "mapping", entries: new Map(), location: start })
    const root = doc.contents as YamlNode
    const rootLocation = locationAt(lineCounter, source, root.range?.[0])
    if (!isMap(root)) {
      return fail([
        {
          path: "",
          message: `the top level must be a mapping of keys to values, not ${describe(root)}`,
          ...rootLocation
        }
      ])
    }
    const ctx: ParseContext = {
      doc,
      lineCounter,
      source,
      issues: [],
      open: new Set(),
      aliasDepth: 0,
      aliasNodes: 0,
      aliasSite: undefined
    }
    const tree = convert(ctx, root, rootLocation, [])
    return ctx.issues.length > 0 || tree === undefined ? fail(ctx.issues) : Effect.succeed(tree)
  })

const readSource = (file: string, cwd: string): Effect.Effect<string, ConfigError> =>
  Effect.tryPromise({
    try: () => readFile(resolve(cwd, file), "utf8"),
    catch: (cause) => {
      const code = (cause as NodeJS.ErrnoException | undefined)?.code
      const message =
        code === "ENOENT"
          ? "file not found"
          : code === "EISDIR"
            ? "is a directory, not a file"
            : cause instanceof Error
              ? cause.message
              : String(cause)
      return new ConfigError({ source: file, issues: [{ path: "", message, source: file }] })
    }
  })

// Mappings merge key by key (later wins, recursively); anything else — a list, a scalar, null — replaces what
// was there. Lists are replaced, not concatenated, so an override can shorten a list; null is a value, not a
// deletion, so an override can switch an optional setting off. The merged mapping is located where the later
// layer wrote it, so a missing key points at the layer the user edits last.
const merge = (base: Tree, next: Tree): Tree => {
  if (base.kind !== "mapping" || next.kind !== "mapping") return next
  const entries = new Map(base.entries)
  for (const [key, child] of next.entries) {
    const previous = entries.get(key)
    entries.set(key, previous === undefined ? child : merge(previous, child))
  }
  return { kind: "mapping", entries, location: next.location }
}

const envReference = /^env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s

// Resolves `${env:NAME}` and `${env:NAME:-default}` in one string; `$${` is a literal `${`. Substituted text is
// not scanned again, so an environment value containing `${` stays as it is.
const interpolate = (
  text: string,
  env: Readonly<Record<string, string | undefined>>
): { readonly value: string; readonly problems: ReadonlyArray<string> } => {
  if (!text.includes("${")) return { value: text, problems: [] }
  const problems: Array<string> = []
  const marker = /\$?\$\{/g
  let value = ""
  let from = 0
  for (let match = marker.exec(text); match !== null; match = marker.exec(text)) {
    value += text.slice(from, match.index)
    if (match[0] === "$${") {
      value += "${"
      from = marker.lastIndex
      continue
    }
    const close = text.indexOf("}", marker.lastIndex)
    if (close === -1) {
      problems.push('unterminated "${" (write "$${" for a literal "${")')
      from = text.length
      break
    }
    const body = text.slice(marker.lastIndex, close)
    marker.lastIndex = close + 1
    from = close + 1
    const reference = envReference.exec(body)
    const name = reference?.[1]
    if (reference === null || name === undefined) {
      problems.push(
        `unsupported interpolation "\${${body}}": use \${env:NAME} or \${env:NAME:-default} (write $\${ for a literal "\${")`
      )
      continue
    }
    const fallback = reference[2]
    if (fallback?.includes("${")) {
      problems.push(`nested interpolation is not supported in the default of \${env:${name}:-…}`)
      continue
    }
    const current = env[name]
    if (fallback !== undefined) {
      // As in the shell: `:-` also replaces a variable that is set but empty.
      value += current === undefined || current === "" ? fallback : current
    } else if (current === undefined) {
      problems.push(`environment variable ${name} is not set (use \${env:${name}:-default} for a default)`)
    } else {
      value += current
    }
  }
  return { value: value + text.slice(from), problems }
}

// Interpolation runs on the merged tree, so a variable is only required when the value that uses it survives
// the merge (an override can replace `${env:TOKEN}` without TOKEN being set).
const resolveEnv = (
  tree: Tree,
  env: Readonly<Record<string, string | undefined>>,
  path: ReadonlyArray<string | number>,
  issues: Array<ConfigIssue>
): Tree => {
  switch (tree.kind) {
    case "scalar": {
      if (typeof tree.value !== "string") return tree
      const { value, problems } = interpolate(tree.value, env)
      for (const message of problems) issues.push({ path: formatPath(path), message, ...tree.location })
      return value === tree.value ? tree : { ...tree, value }
    }
    case "mapping": {
      const entries = new Map<string, Tree>()
      for (const [key, child] of tree.entries) entries.set(key, resolveEnv(child, env, [...path, key], issues))
      return { ...tree, entries }
    }
    case "sequence":
      return { ...tree, items: tree.items.map((item, index) => resolveEnv(item, env, [...path, index], issues)) }
  }
}

const toPlain = (tree: Tree): unknown => {
  switch (tree.kind) {
    case "scalar":
      return tree.value
    case "sequence":
      return tree.items.map(toPlain)
    case "mapping": {
      const object: Record<string, unknown> = {}
      // defineProperty, not assignment: a `__proto__` key must stay data, not replace the object's prototype.
      for (const [key, child] of tree.entries) {
        Object.defineProperty(object, key, {
          value: toPlain(child),
          enumerable: true,
          writable: true,
          configurable: true
        })
      }
      return object
    }
  }
}

const child = (tree: Tree, segment: string | number): Tree | undefined => {
  if (tree.kind === "mapping") return tree.entries.get(String(segment))
  if (tree.kind === "sequence") {
    const index = typeof segment === "number" ? segment : /^(0|[1-9][0-9]*)$/.test(segment) ? Number(segment) : -1
    return tree.items[index]
  }
  return undefined
}

const locateIn =
  (root: Tree | undefined) =>
  (path: ReadonlyArray<string | number>): ConfigLocation | undefined => {
    let tree = root
    for (const segment of path) {
      const next = tree === undefined ? undefined : child(tree, segment)
      if (next === undefined) break
      tree = next
    }
    return tree?.location
  }

const sourceName = (sources: ReadonlyArray<string>): string => (sources.length === 0 ? "<input>" : sources.join(", "))

/**
 * Loads a configuration: reads `files` in order, then the `extras` strings, parses each as YAML (JSON is
 * YAML, so `.json` files and JSON extras work too; the extension is not consulted), and deep-merges them:
 * mappings merge recursively with later layers winning, while lists, scalars and `null` replace (a list is
 * never concatenated; `null` sets null, it does not delete the key).
 *
 * Every layer must be a mapping at the top level (an empty or comment-only one counts as `{}`). YAML merge keys
 * (`<<: *defaults`) and anchors/aliases are supported.
 *
 * After merging, each string value is interpolated: `${env:NAME}` is the variable's value (an error if it is
 * unset), `${env:NAME:-default}` falls back to `default` when it is unset or empty, a string may hold several
 * references, and `$${` writes a literal `${`. Keys are not interpolated. The result is always a string, even
 * when the whole value is one reference: `epochs: ${env:EPOCHS}` gives `"3"`, which strict decoding rejects for
 * a number field, by design (no silent coercion; write the number in the file or an `--extra`).
 *
 * Fails with a {@link ConfigError} naming the file and reason when a file cannot be read (nothing else is
 * done), with the file (or `--extra #n`), line and column of each YAML syntax error, or with the location of
 * every value whose interpolation failed.
 *
 * @example
 * ```ts
 * const loaded = yield* loadConfig({ files: ["confs/train.yaml"], extras: ["job: {epochs: 3}"] })
 * const settings = yield* decodeLoaded(Settings, loaded)
 * ```
 */
export const loadConfig = Effect.fnUntraced(function* (
  options: LoadConfigOptions
): Effect.fn.Return<LoadedConfig, ConfigError> {
  const cwd = options.cwd ?? process.cwd()
  const env = options.env ?? process.env
  const extras = options.extras ?? []
  const sources = [...options.files, ...extras.map((_, index) => `--extra #${index + 1}`)]
  let merged: Tree | undefined
  for (const file of options.files) {
    const layer = yield* parseLayer(yield* readSource(file, cwd), file)
    merged = merged === undefined ? layer : merge(merged, layer)
  }
  for (const [index, extra] of extras.entries()) {
    const layer = yield* parseLayer(extra, `--extra #${index + 1}`)
    merged = merged === undefined ? layer : merge(merged, layer)
  }
  const issues: Array<ConfigIssue> = []
  const resolved = merged === undefined ? undefined : resolveEnv(merged, env, [], issues)
  if (issues.length > 0) return yield* new ConfigError({ source: sourceName(sources), issues })
  return {
    value: deepFreeze(resolved === undefined ? {} : toPlain(resolved)),
    sources,
    locate: locateIn(resolved)
  }
})

/**
 * Decodes a loaded configuration strictly (unknown keys are errors, nothing is coerced, every issue is
 * reported; see {@link decodeConfig}) and annotates each issue with where its value was written, e.g.
 * `confs/train.yaml:12:5 job.epochs: Expected number, got "1"`. A missing key is located at the mapping that
 * lacks it. The error's `source` is every source joined with `, `.
 */
export const decodeLoaded = <S extends Schema.Constraint & { readonly DecodingServices: never }>(
  schema: S,
  loaded: LoadedConfig
): Effect.Effect<S["Type"], ConfigError> =>
  decodeConfig(schema)(loaded.value, sourceName(loaded.sources), (path) => {
    // Schema paths may hold symbols, which no file can contain: locate the part of the path before one.
    const end = path.findIndex((segment) => typeof segment === "symbol")
    return loaded.locate((end === -1 ? path : path.slice(0, end)) as ReadonlyArray<string | number>)
  })
