"""The HTTP edge: every pure-ASGI layer between the server and the handlers, and the per-request record.

Outermost first (assembled by `main.create_app`): `RequestContextMiddleware` (request ids, timing, the
500 envelope, metrics), `EmulationMiddleware` (sessions, journal, faults), `BearerAuthMiddleware`,
`BodyLimitMiddleware`, `GraderFastPath`. Each layer reads and writes the request's `RequestRecord`
(`context.record_of`), never bare keys of the ASGI scope.
"""
