//! Isolated execution of Python, JavaScript and Bash, and the lint, test and generate tools built on it.
#![deny(missing_docs)]
