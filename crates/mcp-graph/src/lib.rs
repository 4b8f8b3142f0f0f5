//! A property-graph store trait with memory, SQLite and Neo4j backends, and read-only queries.
#![deny(missing_docs)]
