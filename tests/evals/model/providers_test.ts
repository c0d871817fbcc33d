import assert from "node:assert/strict";
import process from "node:process";
import { startTf32 } from "../../../evals/model/providers.ts";

Deno.test("TF32 off sets NVIDIA_TF32_OVERRIDE=0 before CUDA starts, and the setting holds for the process", () => {
  const before = process.env.NVIDIA_TF32_OVERRIDE;
  try {
    delete process.env.NVIDIA_TF32_OVERRIDE;
    startTf32(false);
    assert.equal(process.env.NVIDIA_TF32_OVERRIDE, "0");
    startTf32(false); // the same setting again is fine
    assert.throws(() => startTf32(true), /started CUDA with TF32 off; use one setting per process/);
  } finally {
    if (before === undefined) delete process.env.NVIDIA_TF32_OVERRIDE;
    else process.env.NVIDIA_TF32_OVERRIDE = before;
  }
});
