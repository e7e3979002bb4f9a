// Drives the emulator through the official `openai` Node SDK and prints one JSON object of results.
//
// Env: GRADERS_EMULATOR_BASE_URL (what the SDK takes as baseURL, e.g. http://127.0.0.1:8000/v1),
//      GRADERS_EMULATOR_API_KEY (optional; any bearer value is accepted by default).
// Run by tests/contract/test_node_sdk.py, which asserts the printed values.
import OpenAI from "openai";
import { VERSION } from "openai/version";

const baseURL = process.env.GRADERS_EMULATOR_BASE_URL;
if (!baseURL) {
  console.error("set GRADERS_EMULATOR_BASE_URL to the emulator's /v1 base URL");
  process.exit(2);
}
const client = new OpenAI({
  baseURL,
  apiKey: process.env.GRADERS_EMULATOR_API_KEY ?? "sk-node-contract-0000",
  maxRetries: 0,
  timeout: 20_000,
});
const graders = client.fineTuning.alpha.graders;

const stringCheck = {
  type: "string_check",
  name: "node-eq",
  input: "{{ sample.output_text }}",
  reference: "{{ item.answer }}",
  operation: "eq",
};

function errorInfo(error) {
  if (!(error instanceof OpenAI.APIError)) throw error;
  return {
    class: error.constructor.name,
    isBadRequest: error instanceof OpenAI.BadRequestError,
    isAuthentication: error instanceof OpenAI.AuthenticationError,
    status: error.status,
    message: error.message,
    type: error.type ?? null,
    param: error.param ?? null,
    code: error.code ?? null,
    requestID: error.requestID ?? null,
    error: error.error ?? null,
  };
}

async function expectError(promise) {
  try {
    await promise;
  } catch (error) {
    return errorInfo(error);
  }
  return { class: null, status: null };
}

const results = { sdkVersion: VERSION, nodeVersion: process.version };

{
  const { data, response, request_id } = await graders
    .run({ grader: stringCheck, model_sample: "Paris", item: { answer: "Paris" } })
    .withResponse();
  results.run = {
    data,
    status: response.status,
    requestID: request_id ?? null,
    processingMs: response.headers.get("openai-processing-ms"),
  };
}

{
  const data = await graders.run({
    grader: {
      type: "text_similarity",
      name: "node-fuzzy",
      input: "{{ sample.output_text }}",
      reference: "{{ item.reference }}",
      evaluation_metric: "fuzzy_match",
    },
    model_sample: "fuzzy wuzzy was a bear",
    item: { reference: "fuzzy wuzzy had no hair" },
  });
  results.runFuzzy = { data };
}

{
  const { data, response, request_id } = await graders
    .validate({ grader: { type: "string_check", input: "a", reference: "b", operation: "ilike" } })
    .withResponse();
  results.validate = { data, status: response.status, requestID: request_id ?? null };
}

results.badEnum = await expectError(
  graders.run({ grader: { ...stringCheck, operation: "xyz" }, model_sample: "Paris", item: {} }),
);

console.log(JSON.stringify(results));
