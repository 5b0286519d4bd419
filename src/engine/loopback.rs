//! More connections to a local target than one source address has ports for.
//!
//! Every TCP connection from 127.0.0.1 to one address and port needs its own local port, and
//! the kernel has ~28,000 of them (`ip_local_port_range`); past that, `connect` fails with
//! EADDRNOTAVAIL. Any address of 127.0.0.0/8 reaches a local server, and each has its own
//! ports, so when the first runs out, new connections to a loopback target come from
//! 127.0.0.2, 127.0.0.3 and so on (IPv4 only: IPv6 has a single loopback address).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tokio::net::{TcpSocket, TcpStream};

/// Sources tried for one connection before its failure is reported.
const ATTEMPTS: usize = 16;

#[derive(Default)]
pub struct Sources {
    /// Set once 127.0.0.1 has run out of ports; from then on every new loopback connection
    /// takes the next source.
    spreading: AtomicBool,
    next: AtomicU32,
}

/// Whether a connect failed because no local port was left.
pub fn out_of_ports(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EADDRNOTAVAIL)
}

impl Sources {
    pub fn spreading(&self) -> bool {
        self.spreading.load(Ordering::Relaxed)
    }

    /// Connects to `dest` from the next addresses of 127.0.0.0/8 (from now on), skipping a
    /// source whose ports are used up too.
    pub async fn connect(&self, dest: SocketAddrV4) -> io::Result<TcpStream> {
        if !self.spreading.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "locusta.runners",
                "127.0.0.1 has no local port left for another connection to {dest}: new connections come from 127.0.0.2 onwards"
            );
        }
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let source = self.next_source();
            match connect_from(source, dest).await {
                Err(e) if out_of_ports(&e) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)))
    }

    /// 127.0.0.2, 127.0.0.3, ... 127.255.255.254, then around again; never an address ending
    /// in .0 or .255, nor 127.0.0.1 (the one that ran out).
    fn next_source(&self) -> Ipv4Addr {
        loop {
            let n = self.next.fetch_add(1, Ordering::Relaxed) % (1 << 24);
            let [_, b, c, d] = n.to_be_bytes();
            if d != 0 && d != 255 && n > 1 {
                return Ipv4Addr::new(127, b, c, d);
            }
        }
    }
}

/// The loopback IPv4 address a connection to `host:port` goes to, if it goes to one.
pub async fn loopback_v4(host: &url::Host<&str>, port: u16) -> Option<SocketAddrV4> {
    match host {
        url::Host::Ipv4(ip) if ip.is_loopback() => Some(SocketAddrV4::new(*ip, port)),
        url::Host::Domain(name) => {
            tokio::net::lookup_host((*name, port))
                .await
                .ok()?
                .find_map(|a| match a {
                    SocketAddr::V4(v4) if v4.ip().is_loopback() => Some(v4),
                    _ => None,
                })
        }
        _ => None,
    }
}

async fn connect_from(source: Ipv4Addr, dest: SocketAddrV4) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    // Leave the port to connect(), which may reuse one that is busy towards other
    // destinations; bind() alone would reserve it for good.
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads an int we own, on a socket we own.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                std::ptr::from_ref(&on).cast(),
                std::mem::size_of_val(&on) as libc::socklen_t,
            );
        }
    }
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    socket.connect(SocketAddr::V4(dest)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_skip_the_exhausted_address_and_network_and_broadcast_like_ends() {
        let sources = Sources::default();
        let first: Vec<Ipv4Addr> = (0..3).map(|_| sources.next_source()).collect();
        assert_eq!(
            first,
            [
                Ipv4Addr::new(127, 0, 0, 2),
                Ipv4Addr::new(127, 0, 0, 3),
                Ipv4Addr::new(127, 0, 0, 4)
            ]
        );
        sources.next.store(254, Ordering::Relaxed);
        assert_eq!(sources.next_source(), Ipv4Addr::new(127, 0, 0, 254));
        assert_eq!(sources.next_source(), Ipv4Addr::new(127, 0, 1, 1));
        sources.next.store((1 << 24) - 2, Ordering::Relaxed);
        assert_eq!(sources.next_source(), Ipv4Addr::new(127, 255, 255, 254));
        assert_eq!(sources.next_source(), Ipv4Addr::new(127, 0, 0, 2));
    }

    #[tokio::test]
    async fn spread_connections_reach_a_local_server_from_other_loopback_addresses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let SocketAddr::V4(dest) = listener.local_addr().unwrap() else {
            unreachable!("bound to IPv4")
        };
        let sources = Sources::default();
        assert!(!sources.spreading());
        let mut peers = Vec::new();
        for _ in 0..3 {
            let _client = sources.connect(dest).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            peers.push(peer.ip().to_string());
        }
        assert!(sources.spreading());
        assert_eq!(peers, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    }

    #[tokio::test]
    async fn only_loopback_ipv4_targets_are_spread() {
        let v4 = |s: &str| url::Host::Ipv4(s.parse().unwrap());
        assert_eq!(
            loopback_v4(&v4("127.0.0.1"), 80).await,
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(loopback_v4(&v4("10.0.0.1"), 80).await, None);
        // A name is resolved: `localhost` reaches 127.0.0.1.
        assert_eq!(
            loopback_v4(&url::Host::Domain("localhost"), 80).await,
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            loopback_v4(&url::Host::Ipv6("::1".parse().unwrap()), 80).await,
            None
        );
        assert!(out_of_ports(&io::Error::from_raw_os_error(
            libc::EADDRNOTAVAIL
        )));
        assert!(!out_of_ports(&io::Error::from_raw_os_error(
            libc::ECONNREFUSED
        )));
    }
}
