"""The CloudInventory (SPEC section 7): the one checker of what a simulated cloud may hold.

`checks.check(spec)` reads a CloudInventory `spec` of any shape and returns the cloud
it describes as a `Topology` (catalog, servers with their primary ENIs, extension
ENIs, other ports, every address assigned) together with every problem found, each an
`Issue` located by its path inside the spec (`fields`). Pure: no I/O, nothing of
enictl but the model and the address rules.

It sits at the top of the package, not in a layer, because two layers need it and
neither may depend on the other: `enictl validate` (`controller.manifests`) turns each
issue's path into `file:line:col`; the simulated cloud (`controller.providers.sim`,
which imports only the model, the plan, errors and shared helpers such as this) seeds
itself from the Topology and refuses a bad inventory given as a plain dict by tests
and benchmarks, naming the field (`spec.servers[3].flavor`).
"""
