"""HTTP layer: app factory, routes, protocol, middleware, error mapping, metrics."""
