/**
 * Holds a results database open for writing, as a running eval does, until stdin closes.
 * Prints "ready" once the file is locked.
 */

import { Store } from "../../results/store.ts";

const store = await Store.open(Deno.args[0]);
console.log("ready");
for await (const _ of Deno.stdin.readable) {
  // Only the end of stdin matters.
}
store.close();
