import { defineConfig } from "vitest/config"

// Vitest 5 (required by @effect/vitest 4) calls Map.groupBy, which Node 20 lacks (added in Node 21), in its
// failure reporter: without this, a failing test on Node 20 crashes the reporter instead of being shown.
if (typeof (Map as { groupBy?: unknown }).groupBy !== "function") {
  Object.defineProperty(Map, "groupBy", {
    value: <K, V>(items: Iterable<V>, key: (item: V, index: number) => K): Map<K, Array<V>> => {
      const groups = new Map<K, Array<V>>()
      let index = 0
      for (const item of items) {
        const group = key(item, index++)
        const members = groups.get(group)
        if (members) members.push(item)
        else groups.set(group, [item])
      }
      return groups
    }
  })
}

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Most test files wait on child processes (CLI runs, mlflow servers, Python): two files at a time keep
    // both cores busy, where the default on 2 cores (cores - 1) runs them one by one.
    maxWorkers: 2
  }
})
