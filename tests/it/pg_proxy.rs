//! A TCP proxy in front of Postgres (or Redis) that a test can cut (every connection
//! closed, new ones closed on accept), hang (connections stay open but nothing
//! is forwarded: a database that stopped answering), slow down (every answer
//! delayed: a database that is up but slow) and restore: a database outage
//! without touching the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const UP: u8 = 0;
const CUT: u8 = 1;
const HUNG: u8 = 2;

pub struct PgProxy {
    pub port: u16,
    state: Arc<AtomicU8>,
    /// Added before each chunk the server sends back, while up.
    answer_delay_us: Arc<AtomicU64>,
    /// Bumped on every change of state: connections watch it.
    changes: watch::Sender<u64>,
}

impl PgProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(AtomicU8::new(UP));
        let answer_delay_us = Arc::new(AtomicU64::new(0));
        let accept_delay = answer_delay_us.clone();
        let (changes, _) = watch::channel(0u64);
        let accept_state = state.clone();
        let signal = changes.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut changed = signal.subscribe();
                match accept_state.load(Ordering::SeqCst) {
                    CUT => drop(client),
                    HUNG => {
                        // Accepted, never answered, closed once the state changes.
                        tokio::spawn(async move {
                            let _held = client;
                            let _ = changed.changed().await;
                        });
                    }
                    _ => {
                        let state = accept_state.clone();
                        let delay = accept_delay.clone();
                        tokio::spawn(async move {
                            let Ok(server) = TcpStream::connect(upstream).await else {
                                return;
                            };
                            let (mut from_client, mut to_client) = client.into_split();
                            let (mut from_server, mut to_server) = server.into_split();
                            tokio::select! {
                                _ = tokio::io::copy(&mut from_client, &mut to_server) => return,
                                _ = answer_slowly(&mut from_server, &mut to_client, delay) => return,
                                _ = changed.changed() => {}
                            }
                            if state.load(Ordering::SeqCst) == HUNG {
                                // Mid-conversation and silent until the state
                                // changes again; then the connection is dead.
                                let _ = changed.changed().await;
                            }
                        });
                    }
                }
            }
        });
        Self {
            port,
            state,
            answer_delay_us,
            changes,
        }
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme_user, rest) = url.split_once('@').unwrap();
        let (_, path) = rest.split_once('/').unwrap();
        format!("{scheme_user}@127.0.0.1:{}/{path}", self.port)
    }

    fn set(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn cut(&self) {
        self.set(CUT);
    }

    /// Postgres stops answering without closing anything.
    pub fn hang(&self) {
        self.set(HUNG);
    }

    /// Every answer of the server waits `delay` first; connections stay up.
    pub fn slow_down(&self, delay: Duration) {
        self.answer_delay_us
            .store(delay.as_micros() as u64, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.answer_delay_us.store(0, Ordering::SeqCst);
        self.set(UP);
    }
}

async fn answer_slowly(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    delay_us: Arc<AtomicU64>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        let delay = delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_micros(delay)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
