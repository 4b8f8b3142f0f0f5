//! Argon2 password work with bounded concurrency and reused memory: [`PasswordGate`].
//!
//! An Argon2id check with the default parameters fills 19 MiB. Unbounded, 100 parallel log-ins
//! asked for 1.9 GB at once, and the allocator kept most of it afterwards. Through the gate at
//! most `max_concurrent` checks run at once, at most `queue` more wait for their turn (beyond
//! that: [`Busy`], which the server answers with 503 and `Retry-After`), and each check borrows
//! its memory from a pool of at most `max_concurrent` buffers that are reused rather than
//! allocated and freed per check. So the memory of password work stays at
//! `max_concurrent × 19 MiB`, however many log-ins arrive.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use mcp_core::StoreError;
use tokio::sync::Semaphore;

/// The largest Argon2 memory a stored hash may ask for, in KiB (1 KiB blocks): 64 MiB. A hash
/// asking for more never matches (it cannot come from this server, whose hashes use 19 MiB).
pub const MAX_MEMORY_KIB: usize = 64 * 1024;

/// The password work is saturated: the check was not queued (answer 503 with `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

/// Bounded, memory-reusing Argon2 hashing and checking (see the module docs). Cheap to clone:
/// clones share the bound and the pool.
#[derive(Clone)]
pub struct PasswordGate {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    queue: usize,
    waiting: AtomicUsize,
    pool: Mutex<Vec<Vec<Block>>>,
}

impl std::fmt::Debug for PasswordGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordGate")
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("queue", &self.inner.queue)
            .finish_non_exhaustive()
    }
}

/// A place in the queue, given back when dropped.
struct QueueTicket<'a>(&'a AtomicUsize);

impl Drop for QueueTicket<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordGate {
    /// At most `max_concurrent` (at least 1) checks at once and `queue` waiting.
    pub fn new(max_concurrent: usize, queue: usize) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                queue,
                waiting: AtomicUsize::new(0),
                pool: Mutex::new(Vec::new()),
            }),
        }
    }

    /// How many checks run at most at once.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_concurrent
    }

    /// Checks and waits now (running or queued), for metrics.
    pub fn in_use(&self) -> usize {
        self.inner.max_concurrent - self.inner.permits.available_permits()
            + self.inner.waiting.load(Ordering::SeqCst)
    }

    /// How many memory buffers the pool keeps now (at most `max_concurrent`).
    pub fn pooled_buffers(&self) -> usize {
        self.inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether `password` matches the PHC string `hash`; a malformed hash never matches.
    /// [`Busy`] when the queue is full.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Busy> {
        self.run(move |blocks| verify_with(&password, &hash, blocks))
            .await
    }

    /// An Argon2id PHC string of `password` with a random salt. [`StoreError::Unavailable`]
    /// when the queue is full.
    pub async fn hash(&self, password: String) -> Result<String, StoreError> {
        match self.run(move |blocks| hash_with(&password, blocks)).await {
            Ok(result) => result,
            Err(Busy) => Err(StoreError::unavailable(
                "too many password checks at once; retry shortly",
            )),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let inner = &self.inner;
        let permit = match Arc::clone(&inner.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if inner.waiting.fetch_add(1, Ordering::SeqCst) >= inner.queue {
                    inner.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(Busy);
                }
                let _ticket = QueueTicket(&inner.waiting);
                Arc::clone(&inner.permits)
                    .acquire_owned()
                    .await
                    .map_err(|_| Busy)?
            }
        };
        let pooled = Arc::clone(inner);
        // The permit moves into the blocking task: if the caller goes away, the slot stays
        // taken until the work really ends, so the bound holds.
        let task = tokio::task::spawn_blocking(move || {
            let mut blocks = pooled.take_buffer();
            let out = work(&mut blocks);
            pooled.give_back(blocks);
            drop(permit);
            out
        });
        task.await.map_err(|e| {
            tracing::error!(error = %e, "password work panicked");
            Busy
        })
    }
}

impl Inner {
    fn take_buffer(&self) -> Vec<Block> {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, blocks: Vec<Block>) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < self.max_concurrent {
            pool.push(blocks);
        }
    }
}

/// Grows `blocks` to at least `count` blocks (kept for the next use) and returns that many.
fn blocks_of(blocks: &mut Vec<Block>, count: usize) -> &mut [Block] {
    if blocks.len() < count {
        blocks.resize(count, Block::new());
    }
    &mut blocks[..count]
}

/// [`PasswordGate::verify`]'s work, in `blocks`.
pub(crate) fn verify_with(password: &str, hash: &str, blocks: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::new(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let count = params.block_count();
    if count > MAX_MEMORY_KIB {
        tracing::warn!(
            memory_kib = count,
            "a stored password hash asks for more Argon2 memory than allowed; it never matches"
        );
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            blocks_of(blocks, count),
        )
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// [`PasswordGate::hash`]'s work, in `blocks`: Argon2id with the crate's default parameters.
pub(crate) fn hash_with(password: &str, blocks: &mut Vec<Block>) -> Result<String, StoreError> {
    let invalid =
        |e: &dyn std::fmt::Display| StoreError::Invalid(format!("cannot hash password: {e}"));
    let params = Params::default();
    let salt = argon2::password_hash::generate_salt();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks_of(blocks, params.block_count()),
        )
        .map_err(|e| invalid(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| invalid(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| invalid(&e))?),
        hash: Some(Output::new(&out).map_err(|e| invalid(&e))?),
    };
    Ok(phc.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn hashes_verify_both_ways_with_the_argon2_crate() {
        let mut blocks = Vec::new();
        let ours = hash_with("correct horse", &mut blocks).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        use argon2::PasswordVerifier;
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        let theirs = crate::hash_password("battery staple").unwrap();
        assert!(verify_with("battery staple", &theirs, &mut blocks));
        assert!(!verify_with("battery stapler", &theirs, &mut blocks));
        assert!(!verify_with("battery staple", "not a hash", &mut blocks));
        // One buffer served all of it.
        assert_eq!(blocks.len(), Params::default().block_count());
    }

    #[test]
    fn a_hash_asking_for_too_much_memory_never_matches() {
        let greedy = Params::new(MAX_MEMORY_KIB as u32 * 2, 1, 1, None).unwrap();
        let mut out = [0u8; 32];
        let salt = [7u8; 16];
        let mut huge = vec![Block::new(); greedy.block_count()];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, greedy.clone())
            .hash_password_into_with_memory(b"pw", &salt, &mut out, &mut huge[..])
            .unwrap();
        drop(huge);
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&greedy).unwrap(),
            salt: Some(Salt::new(&salt).unwrap()),
            hash: Some(Output::new(&out).unwrap()),
        }
        .to_string();
        let mut blocks = Vec::new();
        assert!(!verify_with("pw", &phc, &mut blocks));
        assert!(blocks.is_empty(), "no memory was taken for it");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn beyond_the_running_and_queued_checks_the_gate_is_busy() {
        let gate = PasswordGate::new(1, 2);
        let hash = crate::hash_password("pw-pw-pw-pw").unwrap();
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let (gate, hash) = (gate.clone(), hash.clone());
                tokio::spawn(async move { gate.verify("pw-pw-pw-pw".into(), hash).await })
            })
            .collect();
        let mut ok = 0;
        let mut busy = 0;
        for c in checks {
            match c.await.unwrap() {
                Ok(matched) => {
                    assert!(matched);
                    ok += 1;
                }
                Err(Busy) => busy += 1,
            }
        }
        // One runs, two wait; the other five are refused (they all arrive while the first
        // check runs, which takes far longer than spawning them).
        assert_eq!((ok, busy), (3, 5));
        assert_eq!(gate.in_use(), 0);
        assert_eq!(gate.pooled_buffers(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_pool_keeps_at_most_one_buffer_per_concurrent_check() {
        let gate = PasswordGate::new(2, 100);
        let hash = crate::hash_password("pw-pw-pw-pw").unwrap();
        let checks: Vec<_> = (0..6)
            .map(|_| {
                let (gate, hash) = (gate.clone(), hash.clone());
                tokio::spawn(async move { gate.verify("wrong-wrong".into(), hash).await })
            })
            .collect();
        for c in checks {
            assert_eq!(c.await.unwrap(), Ok(false));
        }
        assert_eq!(gate.pooled_buffers(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_goes_away_keeps_its_slot_until_the_work_ends() {
        let gate = PasswordGate::new(1, 0);
        let hash = crate::hash_password("pw-pw-pw-pw").unwrap();
        let slow = gate.clone();
        let caller = tokio::spawn(async move { slow.verify("x".repeat(8), hash).await });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while gate.in_use() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the check never started"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        caller.abort();
        let _ = caller.await;
        // The Argon2 work still runs: the slot is still taken, so a new check is refused.
        assert_eq!(gate.verify("y".repeat(8), "h".into()).await, Err(Busy));
        while gate.in_use() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the slot was never given back"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(gate.verify("y".repeat(8), "h".into()).await, Ok(false));
    }
}
