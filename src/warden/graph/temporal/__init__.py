"""The Temporal engine: a run tree is a workflow (id = run id) whose nodes run as activities on
`warden worker` processes; see docs/SCALE.md for the design and its limits."""
