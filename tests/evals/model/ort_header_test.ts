import assert from "node:assert/strict";
import { parseOrtApiHeader } from "../../../evals/model/ort/header.ts";
import { SIGNATURES } from "../../../evals/model/ort/signatures.ts";
import { ORT_API_VERSION, SLOTS } from "../../../evals/model/ort/slots.ts";
import { ort } from "../../../evals/model/ort/api.ts";

const HEADER = `
#define ORT_API_VERSION 29
struct OrtApi;
struct OrtApi {
  /** \\brief Create an OrtStatus
   * ORT_API2_STATUS(NotAnEntry, int x);
   */
  OrtStatus*(ORT_API_CALL* CreateStatus)(OrtErrorCode code, _In_ const char* msg)NO_EXCEPTION;
  ORT_API2_STATUS(CreateEnv, OrtLoggingLevel log_severity_level, _In_ const char* logid,
                  _Outptr_ OrtEnv** out);
  // ORT_CLASS_RELEASE(Commented);
  ORT_CLASS_RELEASE(Env);
  ORT_API_T(uint32_t, MemoryInfoGetVendorId, _In_ const OrtMemoryInfo* ptr);
  void(ORT_API_CALL* ClearBoundInputs)(_Inout_ OrtIoBinding* binding_ptr) NO_EXCEPTION;
};
struct Other {
  ORT_API2_STATUS(AfterTheTable, int x);
};
`;

Deno.test("the header parser counts every kind of table entry, and nothing in comments or after the table", () => {
  assert.deepEqual(parseOrtApiHeader(HEADER), {
    version: 29,
    entries: ["CreateStatus", "CreateEnv", "ReleaseEnv", "MemoryInfoGetVendorId", "ClearBoundInputs"],
  });
  assert.throws(() => parseOrtApiHeader("struct OrtApi {};"), /defines no ORT_API_VERSION/);
});

Deno.test("every function the engine calls has a slot, and the loaded library offers that API version", () => {
  assert.deepEqual(Object.keys(SLOTS).sort(), Object.keys(SIGNATURES).sort());
  assert.equal(ORT_API_VERSION, 29);
  assert.match(ort().version, /^1\.29\./);
});
