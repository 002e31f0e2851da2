//! Both fake servers in one call: POP3 and IMAP over one world, plain and, when asked,
//! STLS/STARTTLS and implicit TLS (POP3S, IMAPS) with a fresh test CA; stopped on drop.
//!
//! ```
//! # tokio_test::block_on(async {
//! use fake_servers::builder::{Message, WorldBuilder};
//! use tokio::io::{AsyncBufReadExt, BufReader};
//!
//! let world = WorldBuilder::new()
//!     .message("m1", Message::sized(2048))
//!     .mailbox("INBOX", ["m1"])
//!     .build()?;
//! let servers = fake_servers::start(world)?;
//!
//! // Point any client at servers.pop3() / servers.imap(), log in with
//! // servers.user() / servers.password().
//! let tcp = tokio::net::TcpStream::connect(servers.pop3()).await?;
//! let mut greeting = String::new();
//! BufReader::new(tcp).read_line(&mut greeting).await?;
//! assert!(greeting.starts_with("+OK"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! With TLS, clients trust [`FakeServers::ca_pem`]; the certificate names `localhost`,
//! `127.0.0.1` and `::1`:
//!
//! ```
//! # tokio_test::block_on(async {
//! # let world = fake_servers::World::default();
//! let servers = fake_servers::Servers::new(world).tls(true).start()?;
//! let pop3s = servers.pop3s().expect("TLS was asked for");
//! let ca_pem: &str = servers.ca_pem().expect("a CA comes with TLS");
//! # let _ = (pop3s, ca_pem);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::imap::{self, ImapOptions, TlsMode};
use crate::pop3::{self, Pop3Options, Pop3Tls};
use crate::script::Script;
use crate::tls::{TestCa, TlsError};
use crate::world::{SharedWorld, World};

/// Why the servers could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listening for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("making the test CA: {0}")]
    Ca(#[from] TlsError),
}

/// Connections the kernel queues before they are accepted: bursts of thousands of
/// sessions at once must not time out waiting (std's 128 did; the kernel may cap
/// this at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`] (needs a Tokio runtime, like every listener).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Where one server listens: a port to bind on the configured address, or a listener
/// bound already.
#[derive(Debug)]
enum Listen {
    Port(u16),
    Listener(TcpListener),
}

impl Listen {
    /// Binds synchronously (a bind does not block), so that starting needs no `.await`.
    fn bind(self, ip: IpAddr, what: &'static str) -> Result<TcpListener, ServeError> {
        match self {
            Listen::Listener(l) => Ok(l),
            Listen::Port(port) => {
                let addr = SocketAddr::new(ip, port);
                bind(addr).map_err(|source| ServeError::Bind { what, addr, source })
            }
        }
    }
}

/// What to start: the world, the script, each server's options, TLS and addresses.
/// [`Servers::start`] starts it.
///
/// ```
/// # tokio_test::block_on(async {
/// use fake_servers::{Script, Servers, World};
/// use fake_servers::pop3::Pop3Options;
///
/// let mut pop3 = Pop3Options::default();
/// pop3.caps.pipelining = false;
/// let servers = Servers::new(World::default())
///     .script(Script::default())
///     .pop3_options(pop3)
///     .tls(true)
///     .start()?;
/// assert!(servers.imaps().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Servers {
    world: SharedWorld,
    script: Script,
    pop3: Pop3Options,
    imap: ImapOptions,
    ca: Option<TestCa>,
    tls: bool,
    ip: IpAddr,
    listen: [Listen; 4],
}

impl std::fmt::Debug for Servers {
    // The world holds the password: it stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Servers")
            .field("tls", &self.tls)
            .field("ip", &self.ip)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl Servers {
    /// Both servers on `127.0.0.1`, any free ports, default options, no script, no TLS.
    pub fn new(world: World) -> Self {
        Servers::shared(SharedWorld::new(world))
    }

    /// As [`Servers::new`], over a world the caller keeps a handle on.
    pub fn shared(world: SharedWorld) -> Self {
        Servers {
            world,
            script: Script::default(),
            pop3: Pop3Options::default(),
            imap: ImapOptions::default(),
            ca: None,
            tls: false,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            listen: [0, 0, 0, 0].map(Listen::Port),
        }
    }

    /// Overrides, faults, timeline events; the command log is read from it afterwards.
    pub fn script(mut self, script: Script) -> Self {
        self.script = script;
        self
    }

    pub fn pop3_options(mut self, options: Pop3Options) -> Self {
        self.pop3 = options;
        self
    }

    pub fn imap_options(mut self, options: ImapOptions) -> Self {
        self.imap = options;
        self
    }

    /// The test CA to use (one is generated when TLS needs one and none is given).
    pub fn ca(mut self, ca: TestCa) -> Self {
        self.ca = Some(ca);
        self
    }

    /// TLS everywhere: STLS and STARTTLS offered on the plain ports, and POP3S and IMAPS
    /// listeners beside them.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// The address to listen on (default `127.0.0.1`).
    pub fn listen(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// Fixed ports for POP3 and IMAP (0: any free port).
    pub fn ports(mut self, pop3: u16, imap: u16) -> Self {
        self.listen[0] = Listen::Port(pop3);
        self.listen[1] = Listen::Port(imap);
        self
    }

    /// Fixed ports for POP3S and IMAPS (0: any free port); used with [`Servers::tls`].
    pub fn tls_ports(mut self, pop3s: u16, imaps: u16) -> Self {
        self.listen[2] = Listen::Port(pop3s);
        self.listen[3] = Listen::Port(imaps);
        self
    }

    /// Listeners bound already for POP3 and IMAP.
    pub fn listeners(mut self, pop3: TcpListener, imap: TcpListener) -> Self {
        self.listen[0] = Listen::Listener(pop3);
        self.listen[1] = Listen::Listener(imap);
        self
    }

    /// Binds every listener, then serves in tasks of their own until the handle is
    /// stopped or dropped. Must be called inside a Tokio runtime (a `#[tokio::test]`).
    pub fn start(self) -> Result<FakeServers, ServeError> {
        let Servers {
            world,
            script,
            mut pop3,
            mut imap,
            mut ca,
            tls,
            ip,
            listen,
        } = self;
        if ca.is_none() && tls {
            ca = Some(TestCa::generate()?);
        }
        let [l_pop3, l_imap, l_pop3s, l_imaps] = listen;
        let mut handle = FakeServers {
            pop3: SocketAddr::new(ip, 0),
            imap: SocketAddr::new(ip, 0),
            pop3s: None,
            imaps: None,
            world,
            script,
            ca: ca.clone(),
            stops: Vec::new(),
            tasks: Vec::new(),
        };
        let tls_listeners = match (&ca, tls) {
            (Some(ca), true) => {
                pop3.caps.stls = true;
                pop3.tls = Pop3Tls::Stls(ca.acceptor());
                imap.capabilities.starttls = true;
                imap.tls = TlsMode::StartTls(ca.clone());
                Some((l_pop3s.bind(ip, "POP3S")?, l_imaps.bind(ip, "IMAPS")?))
            }
            _ => None,
        };
        let l_pop3 = l_pop3.bind(ip, "POP3")?;
        let l_imap = l_imap.bind(ip, "IMAP")?;
        handle.pop3 = local_addr(&l_pop3, "POP3")?;
        handle.imap = local_addr(&l_imap, "IMAP")?;
        if let (Some((pop3s, imaps)), Some(ca)) = (tls_listeners, &ca) {
            handle.pop3s = Some(local_addr(&pop3s, "POP3S")?);
            handle.imaps = Some(local_addr(&imaps, "IMAPS")?);
            let mut p = pop3.clone();
            p.tls = Pop3Tls::Implicit(ca.acceptor());
            let mut i = imap.clone();
            i.tls = TlsMode::Implicit(ca.clone());
            handle.spawn_pop3(pop3s, p);
            handle.spawn_imap(imaps, i);
        }
        handle.spawn_pop3(l_pop3, pop3);
        handle.spawn_imap(l_imap, imap);
        Ok(handle)
    }
}

fn local_addr(l: &TcpListener, what: &'static str) -> Result<SocketAddr, ServeError> {
    l.local_addr().map_err(|source| ServeError::Bind {
        what,
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        source,
    })
}

/// Starts POP3 and IMAP over `world` on `127.0.0.1`, any free ports, plain text, default
/// options: the one call for a test. See [`Servers`] for everything else.
///
/// ```
/// # tokio_test::block_on(async {
/// let world = fake_servers::WorldBuilder::new()
///     .message("m1", fake_servers::Message::sized(1000))
///     .mailbox("INBOX", ["m1"])
///     .build()?;
/// let servers = fake_servers::start(world)?;
/// let (pop3, imap) = (servers.pop3(), servers.imap());
/// assert!(pop3.ip().is_loopback() && imap.ip().is_loopback());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
/// Must be called inside a Tokio runtime (a `#[tokio::test]`).
pub fn start(world: World) -> Result<FakeServers, ServeError> {
    Servers::new(world).start()
}

/// Running fake servers: their addresses, the login, the CA; stopped on drop.
pub struct FakeServers {
    pop3: SocketAddr,
    imap: SocketAddr,
    pop3s: Option<SocketAddr>,
    imaps: Option<SocketAddr>,
    world: SharedWorld,
    script: Script,
    ca: Option<TestCa>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeServers {
    // The password stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServers")
            .field("pop3", &self.pop3)
            .field("imap", &self.imap)
            .field("pop3s", &self.pop3s)
            .field("imaps", &self.imaps)
            .finish_non_exhaustive()
    }
}

impl FakeServers {
    fn spawn_pop3(&mut self, listener: TcpListener, options: Pop3Options) {
        let (tx, rx) = oneshot::channel::<()>();
        let serve = pop3::serve(
            listener,
            self.world.clone(),
            self.script.clone(),
            options,
            async {
                let _ = rx.await;
            },
        );
        self.stops.push(tx);
        self.tasks.push(tokio::spawn(serve));
    }

    fn spawn_imap(&mut self, listener: TcpListener, options: ImapOptions) {
        let (tx, rx) = oneshot::channel::<()>();
        let serve = imap::serve(
            listener,
            self.world.clone(),
            self.script.clone(),
            options,
            async {
                let _ = rx.await;
            },
        );
        self.stops.push(tx);
        self.tasks.push(tokio::spawn(serve));
    }

    /// The plain POP3 port (offering STLS with TLS on).
    pub fn pop3(&self) -> SocketAddr {
        self.pop3
    }

    /// The plain IMAP port (offering STARTTLS with TLS on).
    pub fn imap(&self) -> SocketAddr {
        self.imap
    }

    /// The POP3S port, with TLS on.
    pub fn pop3s(&self) -> Option<SocketAddr> {
        self.pop3s
    }

    /// The IMAPS port, with TLS on.
    pub fn imaps(&self) -> Option<SocketAddr> {
        self.imaps
    }

    /// The login both servers accept (the world's at start).
    pub fn user(&self) -> String {
        self.world.lock().user.clone()
    }

    /// The password both servers accept (the world's at start).
    pub fn password(&self) -> String {
        self.world.lock().password.clone()
    }

    /// The test CA, when one is in use.
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// The CA certificate clients must trust, PEM.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(|c| c.ca_pem.as_str())
    }

    /// Writes the CA certificate (PEM) to `path`, for clients that read a file.
    pub fn write_ca(&self, path: &Path) -> io::Result<()> {
        match self.ca_pem() {
            Some(pem) => std::fs::write(path, pem),
            None => Err(io::Error::other(
                "the servers run without TLS: there is no CA",
            )),
        }
    }

    /// The world both servers serve; timeline events and tests may change it.
    pub fn world(&self) -> &SharedWorld {
        &self.world
    }

    /// The script: its command log says what clients sent.
    pub fn script(&self) -> &Script {
        &self.script
    }

    /// Stops accepting, ends every session and waits for that.
    pub async fn stop(mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for FakeServers {
    // Dropping cannot wait; the servers end their sessions on their own.
    fn drop(&mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{Message, WorldBuilder};
    use std::time::Duration;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    async fn line(r: &mut (impl AsyncBufReadExt + Unpin)) -> String {
        let mut s = String::new();
        r.read_line(&mut s).await.unwrap();
        s
    }

    #[tokio::test]
    async fn plain_and_tls_ports_and_stop_on_drop() {
        let run = async {
            let world = WorldBuilder::new()
                .message("m1", Message::sized(500))
                .mailbox("INBOX", ["m1"])
                .build()
                .unwrap();
            let s = Servers::new(world).tls(true).start().unwrap();
            assert!(s.ca_pem().unwrap().contains("BEGIN CERTIFICATE"));
            assert_eq!((s.user(), s.password()), ("alice".into(), "secret".into()));
            let mut p = BufReader::new(tokio::net::TcpStream::connect(s.pop3()).await.unwrap());
            assert!(line(&mut p).await.starts_with("+OK"));
            p.get_mut().write_all(b"CAPA\r\n").await.unwrap();
            let mut capa = String::new();
            loop {
                let l = line(&mut p).await;
                capa.push_str(&l);
                if l == ".\r\n" {
                    break;
                }
            }
            assert!(capa.contains("STLS"), "{capa}");
            let mut i = BufReader::new(tokio::net::TcpStream::connect(s.imap()).await.unwrap());
            assert!(line(&mut i).await.contains("STARTTLS"));
            for a in [s.pop3s().unwrap(), s.imaps().unwrap()] {
                tokio::net::TcpStream::connect(a).await.unwrap();
            }
            let pop3 = s.pop3();
            drop(s);
            // Stopped on drop: the session ends and the port refuses new connections.
            assert_eq!(line(&mut p).await, "");
            for _ in 0..50 {
                if tokio::net::TcpStream::connect(pop3).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("still listening after drop");
        };
        tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .unwrap();
    }
}
