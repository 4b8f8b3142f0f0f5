//! Tools built on the sandbox: `lint`, `test` (pytest) and `generate` (templates).
//!
//! Their results are what the server and MCP return, so every type is serde-serializable with
//! stable field names.

mod generate;
mod lint;
mod pytest;

pub use generate::{
    GenerateRequest, Generated, Generator, ParameterInfo, ParameterKind, TemplateInfo,
};
pub use lint::{Diagnostic, LintReport, LintRequest, MAX_DIAGNOSTICS, Severity};
pub use pytest::{TestCase, TestOutcome, TestReport, TestRequest};
