//! A small HTTP/1.1 server on a loopback port, serving what each test sets per path, and
//! counting the requests it got.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a path answers.
#[derive(Clone, Debug)]
pub enum Route {
    /// 200 with a JSON body and its Content-Length.
    Json(String),
    /// This status, headers and body.
    Status(u16, Vec<(String, String)>, String),
    /// 200 with this many bytes, without a Content-Length (read until close).
    Endless(usize),
    /// 200 announcing this Content-Length (and sending it).
    Announced(usize),
    /// Waits this long before answering 200 `{}`.
    Slow(Duration),
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
}

/// The running server; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s, c) = (Arc::clone(&state), Arc::clone(&connections));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, Arc::clone(&s)));
            }
        });
        Self {
            addr,
            state,
            connections,
            task,
        }
    }

    /// Sets what `path` answers.
    pub fn set(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), route);
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
    let route = {
        let mut state = state.lock().unwrap();
        *state.hits.entry(path.clone()).or_default() += 1;
        state.routes.get(&path).cloned()
    };
    let write = |status: u16, headers: Vec<(String, String)>, body: Vec<u8>, length: bool| {
        let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if length {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend(body);
        bytes
    };
    let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let bytes = match route {
        None => write(404, Vec::new(), b"not found".to_vec(), true),
        Some(Route::Json(body)) => write(200, json, body.into_bytes(), true),
        Some(Route::Status(status, headers, body)) => {
            write(status, headers, body.into_bytes(), true)
        }
        Some(Route::Announced(n)) => write(200, json, vec![b' '; n], true),
        Some(Route::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            write(200, json, b"{}".to_vec(), true)
        }
        Some(Route::Endless(n)) => {
            let head = write(200, json, Vec::new(), false);
            if stream.write_all(&head).await.is_err() {
                return;
            }
            let chunk = vec![b' '; 16 * 1024];
            let mut sent = 0;
            while sent < n {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
                sent += chunk.len();
            }
            let _ = stream.shutdown().await;
            return;
        }
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}
