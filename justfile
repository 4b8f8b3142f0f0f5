# Recipes wrapping the same commands the README gives (just is optional).

# Run the server on the embedded default (SQLite in ./data).
run *ARGS:
    cargo run --release -p mcp-server -- serve {{ARGS}}

# Run every check and test (installs what the tests need).
test:
    ./scripts/test

# fmt + clippy + rustdoc, as the test command runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

# Criterion benchmarks of all crates.
bench:
    cargo bench --workspace --all-features

# Every benchmark and load script, regenerating docs/performance.md.
bench-all:
    ./benches/run-all
