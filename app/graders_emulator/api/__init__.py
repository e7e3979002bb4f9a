"""HTTP routers: thin, typed, one job each."""
