import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { KVBENCH_VERSION, kvbenchCommit, versionText } from "../../evals/version.ts";

Deno.test("versionText() names kvbench's version and commit, ONNX Runtime's and Deno's", () => {
  assert.equal(KVBENCH_VERSION, denoJson.version);
  const text = versionText(() => "1.29.0");
  assert.match(
    text,
    new RegExp(`^kvbench ${denoJson.version} \\(commit ${kvbenchCommit().replace("+", "\\+")}\\)`),
  );
  assert.match(text, /^ONNX Runtime 1\.29\.0$/m);
  assert.match(text, new RegExp(`^Deno ${Deno.version.deno}$`, "m"));
});

Deno.test("versionText() still prints kvbench's version when ONNX Runtime cannot be loaded", () => {
  const text = versionText(() => {
    throw new Error("libonnxruntime.so.1: cannot open shared object file\nmore");
  });
  assert.match(text, /^kvbench /);
  assert.match(
    text,
    /^ONNX Runtime not loadable \(libonnxruntime\.so\.1: cannot open shared object file\)$/m,
  );
});
