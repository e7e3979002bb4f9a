"""Wire models only: the JSON objects of the graders endpoints, as declarations."""
