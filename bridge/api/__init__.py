"""HTTP handlers, grouped by resource; `routes.add_routes` registers all of them."""
