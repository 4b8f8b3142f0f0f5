//! MCP over stdio for local agents: `mcp-server mcp-stdio --token <jwt>`.
//!
//! Lines from the client pass through a filter before rmcp sees them: a line that is not a
//! JSON-RPC message gets a JSON-RPC error (rmcp would drop it without a word), and a line over
//! the size limit is skipped and answered with -32600. Both outputs share one writer, one
//! whole line at a time.
use anyhow::Context;
use rmcp::ServiceExt;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::{McpServer, jsonrpc};
use crate::auth::{CallContext, authenticate};
use crate::config::Config;
use crate::state::AppState;

/// Environment variable with the token when `--token` is not given.
pub const TOKEN_ENV: &str = "MCP_TOKEN";

/// Longest wait at start-up for the gateway's upstreams to make their first connection.
const GATEWAY_READY_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs `mcp-stdio`: opens the stores, checks the token, serves stdin/stdout until stdin ends.
pub async fn main(config: Config, token: String) -> anyhow::Result<()> {
    let mcp_config = super::McpConfig::for_server(&config);
    let limit = mcp_config.max_message_bytes;
    let state = AppState::connect(config).await?;
    let token = token.trim().to_owned();
    let ctx = CallContext {
        route: "mcp-stdio".into(),
        user_agent: Some("mcp-stdio".into()),
        ..CallContext::default()
    };
    let who = authenticate(&state, Some(&token), &ctx)
        .await
        .context("the token was refused")?;
    tracing::info!(user = %who.username, roles = ?who.roles, "serving MCP over stdio");
    if let Some(gateway) = &state.gateway {
        // A local client lists tools once, at start: give the upstreams their first
        // connection attempt before serving (each has its own connect timeout too).
        gateway.gateway().ready(GATEWAY_READY_WAIT).await;
    }
    let server = McpServer::for_token(state.clone(), token).with_config(&mcp_config);
    let result = serve(server, tokio::io::stdin(), tokio::io::stdout(), limit).await;
    // A call still under way when stdin ended finishes (its write and audit event) first.
    crate::completion::drain(crate::completion::DRAIN_TIMEOUT).await;
    if let Some(gateway) = &state.gateway {
        gateway.shutdown().await;
    }
    let _ = state.audit.flush(std::time::Duration::from_secs(5)).await;
    result
}

/// One line read with a bound: its bytes, or that it was longer than the bound.
enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// Reads up to the next `\n`, keeping at most `limit` bytes; `None` at the end of input.
async fn read_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    limit: usize,
) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            if !any {
                return Ok(None);
            }
            return Ok(Some(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            }));
        }
        any = true;
        let newline = available.iter().position(|b| *b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        if !too_long {
            if line.len() + chunk.len() > limit {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(newline.is_some());
        input.consume(used);
        if newline.is_some() {
            return Ok(Some(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            }));
        }
    }
}

fn encode(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Serves `server` over a pair of byte streams (stdin/stdout, or pipes in tests) until the
/// input ends.
pub async fn serve<R, W>(server: McpServer, input: R, output: W, limit: usize) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (mut to_rmcp, rmcp_in) = tokio::io::duplex(64 * 1024);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(64 * 1024);
    let (lines, mut outgoing) = mpsc::channel::<Vec<u8>>(64);

    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(line) = outgoing.recv().await {
            output.write_all(&line).await?;
            output.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let replies = lines.clone();
    let pump = tokio::spawn(async move {
        let mut from_rmcp = BufReader::new(from_rmcp);
        loop {
            let mut line = Vec::new();
            if from_rmcp.read_until(b'\n', &mut line).await? == 0 {
                break;
            }
            if replies.send(line).await.is_err() {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    });
    let filter = tokio::spawn(async move {
        let mut input = BufReader::new(input);
        while let Some(line) = read_line(&mut input, limit).await? {
            let rejected = match line {
                Line::TooLong => jsonrpc::too_large(limit),
                Line::Text(text) if text.iter().all(u8::is_ascii_whitespace) => continue,
                Line::Text(text) => match jsonrpc::check(&text) {
                    Ok(()) => {
                        to_rmcp.write_all(&text).await?;
                        to_rmcp.write_all(b"\n").await?;
                        continue;
                    }
                    Err(rejected) => rejected,
                },
            };
            tracing::debug!(code = rejected.code.0, "answered a bad stdio message");
            if lines.send(encode(&rejected.response)).await.is_err() {
                break;
            }
        }
        to_rmcp.shutdown().await?;
        Ok::<_, std::io::Error>(())
    });

    let running = server
        .serve((rmcp_in, rmcp_out))
        .await
        .context("MCP session did not start")?;
    let quit = running.waiting().await;
    filter.abort();
    let _ = pump.await;
    let _ = writer.await;
    quit.context("MCP session ended with an error")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], limit: usize) -> Vec<Result<String, ()>> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        while let Some(line) = read_line(&mut reader, limit).await.unwrap() {
            out.push(match line {
                Line::Text(t) => Ok(String::from_utf8(t).unwrap()),
                Line::TooLong => Err(()),
            });
        }
        out
    }

    #[tokio::test]
    async fn lines_over_the_limit_are_skipped_whole_and_the_next_line_is_read() {
        let got = lines(b"abc\n0123456789\nxy\nlast", 5).await;
        assert_eq!(
            got,
            vec![
                Ok("abc".into()),
                Err(()),
                Ok("xy".into()),
                Ok("last".into())
            ]
        );
    }
}
