import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readZipMember, zipMembers } from "../../../tasks/data/zip.ts";

const ZIP = readFileSync(new URL("./fixtures/pqal.zip", import.meta.url));

Deno.test("zipMembers() lists the archive's members in directory order", () => {
  assert.deepEqual(zipMembers(ZIP), [
    "pqal_test_set.json",
    "pqal_fold0/train_set.json",
    "pqal_fold0/dev_set.json",
  ]);
});

Deno.test("readZipMember() inflates a deflated member", () => {
  const text = new TextDecoder().decode(readZipMember(ZIP, "pqal_fold0/dev_set.json"));
  assert.equal(text, "{}");
  assert.match(new TextDecoder().decode(readZipMember(ZIP, "pqal_test_set.json")), /^\{\n "30412"/);
});

Deno.test("readZipMember() names a missing member, and refuses what is not a zip", () => {
  assert.throws(() => readZipMember(ZIP, "nope.json"), /Cannot find "nope.json"/);
  assert.throws(
    () => zipMembers(new TextEncoder().encode("plain text, not an archive")),
    /no end-of-central-directory/,
  );
});
