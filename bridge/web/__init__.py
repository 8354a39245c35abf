"""All HTTP: routes, handlers, middlewares, pages."""
