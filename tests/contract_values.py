"""Values the tests take from CONTRACT.md and OpenAI's material, written out once, never read from the code."""

# CONTRACT.md §2, "metadata.errors": the 24 keys seen in real responses, in wire order (copied by
# hand from the contract: the expectation must not come from the code under test).
CONTRACT_ERROR_KEYS = (
    "formula_parse_error",
    "sample_parse_error",
    "sample_parse_error_details",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "invalid_variable_error_details",
    "other_error",
    "python_grader_server_error",
    "python_grader_server_error_type",
    "python_grader_runtime_error",
    "python_grader_runtime_error_details",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_refusal_error_details",
    "model_grader_parse_error",
    "model_grader_parse_error_details",
    "model_grader_exceeded_max_tokens_error",
    "model_grader_server_error_details",
    "endpoint_grader_internal_error",
    "endpoint_grader_internal_error_details",
    "endpoint_grader_server_error",
    "endpoint_grader_server_error_details",
    "endpoint_grader_safety_check_error",
)
