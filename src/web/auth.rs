//! HTTP basic auth against the bcrypt hashes of `basic_auth_users`, and the
//! bearer tokens of the write and admin classes.
//!
//! bcrypt is slow on purpose (tens of milliseconds), so a verdict is cached:
//! a scraper that sends the same credentials every 15 s pays once. The cache
//! key is an HMAC of user and password under a key made at start, so no
//! password is kept in memory, and the cache cannot be probed for one. An
//! unknown user is checked against a real user's hash, and the verdicts of
//! both are cached alike, so the time of an answer does not tell whether a
//! user exists.
//!
//! Correct credentials are cached apart from wrong ones: a flood of guesses
//! fills and clears only the cache of refusals, so a scraper that logged in
//! once never pays bcrypt again. Uncached checks run on a [`Verifier`] of
//! one or two threads of its own with a short queue: guesses beyond it are
//! refused at once (503) instead of taking the threads the tick and the
//! push store use, or the slots of requests that are already let in.

use std::collections::{BTreeMap, HashSet};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use base64::Engine;
use ring::hmac;
use tracing::warn;

/// Verdicts kept at most, of each kind; a cache starts over when full, so
/// guessing many passwords cannot grow it.
const CACHE_CAPACITY: usize = 4096;

/// bcrypt checks that may wait for a verifier thread; more are refused.
/// With bcrypt at cost 10 (about 80 ms) this is under a second of waiting.
const VERIFY_QUEUE: usize = 8;

/// What a basic-auth check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused,
    /// Not cached, and the verifier's queue is full: try again later.
    Busy,
}

struct Job {
    password: Vec<u8>,
    hash: String,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// The threads that run bcrypt: at most two, and one on a machine with two
/// cores or fewer, so a flood of guesses leaves a core to everything else.
pub struct Verifier {
    /// None when no thread could be started: every uncached check is Busy.
    jobs: Option<SyncSender<Job>>,
}

impl Verifier {
    pub fn start() -> Verifier {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.saturating_sub(1).clamp(1, 2);
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Job>(VERIFY_QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let mut started = 0;
        for n in 0..threads {
            let receiver = Arc::clone(&receiver);
            match std::thread::Builder::new()
                .name(format!("outrider-bcrypt-{n}"))
                .spawn(move || verify_jobs(&receiver))
            {
                Ok(_) => started += 1,
                Err(error) => warn!(error = %error, "no thread for password checks"),
            }
        }
        Verifier {
            jobs: (started > 0).then_some(sender),
        }
    }

    /// Whether `password` matches `hash`; None when the queue is full.
    async fn verify(&self, password: Vec<u8>, hash: String) -> Option<bool> {
        let jobs = self.jobs.as_ref()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        match jobs.try_send(Job {
            password,
            hash,
            reply,
        }) {
            Ok(()) => answer.await.ok(),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => None,
        }
    }
}

/// A verifier thread: takes jobs until the verifier is dropped.
fn verify_jobs(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = crate::model::sync::lock(receiver).recv();
        let Ok(job) = job else { return };
        let matches = bcrypt::verify(&job.password, &job.hash).unwrap_or(false);
        // The client may have gone; its verdict is not cached then.
        let _ = job.reply.send(matches);
    }
}

#[derive(Default)]
struct Cache {
    allowed: HashSet<[u8; 32]>,
    refused: HashSet<[u8; 32]>,
}

pub struct Users {
    hashes: BTreeMap<String, String>,
    /// Checked for users that do not exist, so they cost what a real one does.
    decoy: String,
    key: hmac::Key,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("users", &self.hashes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Checks that every hash is bcrypt; errors name the user, never the hash.
    pub fn new(hashes: &BTreeMap<String, String>) -> Result<Option<Users>, String> {
        for (user, hash) in hashes {
            if user.contains(':') {
                return Err(format!(
                    "basic_auth_users: user {user:?} contains ':', which basic auth cannot carry"
                ));
            }
            if !is_bcrypt(hash) {
                return Err(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash; store the hash, for example from: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
                ));
            }
        }
        // The most expensive hash, so no unknown user answers faster.
        let Some(decoy) = hashes.values().max_by_key(|h| cost(h)).cloned() else {
            return Ok(None);
        };
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| "no randomness for the basic auth cache key".to_owned())?;
        Ok(Some(Users {
            hashes: hashes.clone(),
            decoy,
            key,
            cache: Mutex::new(Cache::default()),
        }))
    }

    /// Whether an `Authorization` header carries a known user and its
    /// password. Runs bcrypt on `verifier` when the verdict is not cached.
    pub async fn check(&self, authorization: Option<&[u8]>, verifier: &Verifier) -> Verdict {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Verdict::Refused;
        };
        let key = self.cache_key(&user, &password);
        {
            let cache = self.cache();
            if cache.allowed.contains(&key) {
                return Verdict::Allowed;
            }
            if cache.refused.contains(&key) {
                return Verdict::Refused;
            }
        }
        let (known, hash) = match self.hashes.get(&user) {
            Some(hash) => (true, hash.clone()),
            None => (false, self.decoy.clone()),
        };
        let Some(matches) = verifier.verify(password, hash).await else {
            return Verdict::Busy;
        };
        let allowed = known & matches;
        let mut cache = self.cache();
        let verdicts = if allowed {
            &mut cache.allowed
        } else {
            &mut cache.refused
        };
        if verdicts.len() >= CACHE_CAPACITY {
            verdicts.clear();
        }
        verdicts.insert(key);
        if allowed {
            Verdict::Allowed
        } else {
            Verdict::Refused
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        crate::model::sync::lock(&self.cache)
    }

    fn cache_key(&self, user: &str, password: &[u8]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.key);
        // The length first, so ("ab", "c") and ("a", "bc") differ.
        context.update(&(user.len() as u64).to_be_bytes());
        context.update(user.as_bytes());
        context.update(password);
        let mut key = [0u8; 32];
        key.copy_from_slice(context.sign().as_ref());
        key
    }
}

/// Whether an `Authorization` header is `Bearer <token>`, compared in time
/// that depends on the length only, so a wrong token does not tell how much
/// of it was right.
pub fn bearer_matches(authorization: Option<&[u8]>, token: &str) -> bool {
    let given = authorization
        .and_then(|v| v.strip_prefix(b"Bearer "))
        .unwrap_or(b"");
    let expected = token.as_bytes();
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// `Basic base64(user:password)` into its parts.
fn parse_basic(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

fn is_bcrypt(hash: &str) -> bool {
    hash.parse::<bcrypt::HashParts>().is_ok()
}

fn cost(hash: &str) -> u32 {
    hash.split('$')
        .nth(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    fn users() -> Arc<Users> {
        let mut hashes = BTreeMap::new();
        hashes.insert("alice".to_owned(), bcrypt::hash("wonderland", 4).unwrap());
        hashes.insert("bob".to_owned(), bcrypt::hash("builder", 4).unwrap());
        Arc::new(Users::new(&hashes).unwrap().unwrap())
    }

    #[tokio::test]
    async fn right_wrong_and_missing_credentials() {
        let users = users();
        let verifier = Verifier::start();
        let check = |header: Vec<u8>| {
            let users = Arc::clone(&users);
            let verifier = &verifier;
            async move { users.check(Some(&header), verifier).await }
        };
        assert_eq!(check(header("alice", "wonderland")).await, Verdict::Allowed);
        assert_eq!(check(header("bob", "builder")).await, Verdict::Allowed);
        assert_eq!(check(header("alice", "builder")).await, Verdict::Refused);
        assert_eq!(check(header("carol", "wonderland")).await, Verdict::Refused);
        assert_eq!(users.check(None, &verifier).await, Verdict::Refused);
        assert_eq!(check(b"Bearer abc".to_vec()).await, Verdict::Refused);
        assert_eq!(check(b"Basic !!!".to_vec()).await, Verdict::Refused);
        assert_eq!(
            check(b"Basic YWxpY2U=".to_vec()).await,
            Verdict::Refused,
            "no colon"
        );
        // Cached verdicts are the same verdicts.
        assert_eq!(check(header("alice", "wonderland")).await, Verdict::Allowed);
        assert_eq!(check(header("alice", "builder")).await, Verdict::Refused);
        assert_eq!(users.cache().allowed.len(), 2);
        assert_eq!(users.cache().refused.len(), 2);
    }

    #[tokio::test]
    async fn guesses_cannot_evict_a_correct_login_or_queue_without_bound() {
        let users = users();
        let verifier = Verifier::start();
        let right = header("alice", "wonderland");
        assert_eq!(users.check(Some(&right), &verifier).await, Verdict::Allowed);
        // More wrong guesses than the cache holds: the refusals start over,
        // the correct login stays cached.
        {
            let mut cache = users.cache();
            for n in 0..=CACHE_CAPACITY {
                let mut key = [0u8; 32];
                key[..8].copy_from_slice(&(n as u64).to_be_bytes());
                if cache.refused.len() >= CACHE_CAPACITY {
                    cache.refused.clear();
                }
                cache.refused.insert(key);
            }
        }
        assert_eq!(users.check(Some(&right), &verifier).await, Verdict::Allowed);
        // Many uncached guesses at once: those past the queue are told to
        // come back later, at once, and none waits for the others.
        let guesses: Vec<Vec<u8>> = (0..64)
            .map(|n| header("alice", &format!("guess-{n}")))
            .collect();
        let verdicts = futures_util::future::join_all(
            guesses
                .iter()
                .map(|guess| users.check(Some(guess), &verifier)),
        )
        .await;
        assert!(verdicts.contains(&Verdict::Busy), "{verdicts:?}");
        assert!(!verdicts.contains(&Verdict::Allowed), "{verdicts:?}");
        assert_eq!(users.check(Some(&right), &verifier).await, Verdict::Allowed);
    }

    #[test]
    fn bearer_tokens_compare_whole() {
        let token = "0123456789abcdef";
        assert!(bearer_matches(Some(b"Bearer 0123456789abcdef"), token));
        assert!(!bearer_matches(Some(b"Bearer 0123456789abcdeX"), token));
        assert!(!bearer_matches(Some(b"Bearer 0123456789abcde"), token));
        assert!(!bearer_matches(Some(b"Basic 0123456789abcdef"), token));
        assert!(!bearer_matches(None, token));
    }

    #[test]
    fn plain_passwords_are_refused_without_echoing_them() {
        let mut hashes = BTreeMap::new();
        hashes.insert("alice".to_owned(), "hunter2-plain".to_owned());
        let error = Users::new(&hashes).unwrap_err();
        assert!(error.contains("alice"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert!(Users::new(&BTreeMap::new()).unwrap().is_none());
    }

    #[test]
    fn cache_keys_separate_user_and_password() {
        let users = users();
        assert_ne!(users.cache_key("ab", b"c"), users.cache_key("a", b"bc"));
        assert_eq!(users.cache_key("a", b"b"), users.cache_key("a", b"b"));
    }
}
