"""HTTP layer: app factory and lifespan, thin routes, middleware, error mapping, metrics, and the
OpenAPI document of the contract."""
