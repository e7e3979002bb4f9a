// One complete Evals API flow through the official `openai` Node SDK; prints one JSON object of results.
//
// Env: GRADERS_EMULATOR_BASE_URL (the SDK's baseURL, e.g. http://127.0.0.1:8000/v1).
// Run by tests/evals/test_node_sdk.py, which asserts the printed values.
import OpenAI, { toFile } from "openai";

const baseURL = process.env.GRADERS_EMULATOR_BASE_URL;
if (!baseURL) {
  console.error("set GRADERS_EMULATOR_BASE_URL to the emulator's /v1 base URL");
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: "sk-node-evals-0000", maxRetries: 0, timeout: 60_000 });

const rows = [
  { item: { answer: "Paris" }, sample: { output_text: "Paris" } },
  { item: { answer: "Rome" }, sample: { output_text: "Roma" } },
  { item: { answer: "4" }, sample: { output_text: "four" } },
];
const jsonl = rows.map((row) => JSON.stringify(row)).join("\n") + "\n";

const file = await client.files.create({ file: await toFile(Buffer.from(jsonl), "rows.jsonl"), purpose: "evals" });
const evaluation = await client.evals.create({
  name: "node flow",
  data_source_config: {
    type: "custom",
    item_schema: { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] },
    include_sample_schema: true,
  },
  testing_criteria: [
    { type: "string_check", name: "exact", input: "{{sample.output_text}}", reference: "{{item.answer}}", operation: "eq" },
    {
      type: "text_similarity",
      name: "close",
      input: "{{sample.output_text}}",
      reference: "{{item.answer}}",
      evaluation_metric: "fuzzy_match",
      pass_threshold: 0.7,
    },
  ],
});
const created = await client.evals.runs.create(evaluation.id, {
  name: "node run",
  data_source: { type: "jsonl", source: { type: "file_id", id: file.id } },
});
let run = created;
const deadline = Date.now() + 30_000;
while (["queued", "in_progress"].includes(run.status) && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  run = await client.evals.runs.retrieve(created.id, { eval_id: evaluation.id });
}
const items = [];
for await (const item of client.evals.runs.outputItems.list(run.id, { eval_id: evaluation.id, limit: 2 })) {
  items.push({ id: item.datasource_item_id, status: item.status, results: item.results.map((r) => [r.name, r.score, r.passed]) });
}
const passing = [];
for await (const item of client.evals.runs.outputItems.list(run.id, { eval_id: evaluation.id, status: "pass" })) {
  passing.push(item.datasource_item_id);
}
const renamed = await client.evals.update(evaluation.id, { name: "node flow, renamed" });
const deleted = await client.evals.delete(evaluation.id);
let notFound = null;
try {
  await client.evals.retrieve(evaluation.id);
} catch (error) {
  if (!(error instanceof OpenAI.NotFoundError)) throw error;
  notFound = { status: error.status, message: error.error?.message ?? null, param: error.param ?? null };
}
console.log(
  JSON.stringify({
    file: { id: file.id, bytes: file.bytes, purpose: file.purpose },
    evalId: evaluation.id,
    criteria: evaluation.testing_criteria.map((c) => c.name),
    created: { status: created.status, id: created.id },
    run: { status: run.status, counts: run.result_counts, perCriterion: run.per_testing_criteria_results },
    items,
    passing,
    renamed: renamed.name,
    deleted,
    notFound,
  }),
);
