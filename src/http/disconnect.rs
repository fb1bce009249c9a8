//! Tells when a request's client has gone away. actix-web keeps running a handler after its
//! client disconnected, so a handler whose work can be long (search) races it against
//! [`client_gone`] and drops its work (cancelling the database query) when the client leaves.

use std::any::Any;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;

/// The connection's socket as it was when accepted: its descriptor and peer. The descriptor is
/// not owned (holding a duplicate would keep a closed connection open); the peer address tells
/// a descriptor number reused by a later connection apart.
#[derive(Clone, Copy)]
struct PeerSocket {
    fd: RawFd,
    peer: Option<std::net::SocketAddr>,
}

/// For `HttpServer::on_connect`.
pub fn remember_socket(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        ext.insert(PeerSocket { fd: tcp.as_raw_fd(), peer: tcp.peer_addr().ok() });
    }
}

/// Resolves once the request's client has closed its connection (checked every 100 ms); never
/// for a connection it cannot watch.
pub async fn client_gone(req: &HttpRequest) {
    let Some(sock) = req.conn_data::<PeerSocket>().copied() else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if hung_up(sock) {
            return;
        }
    }
}

fn hung_up(sock: PeerSocket) -> bool {
    let mut p = libc::pollfd { fd: sock.fd, events: libc::POLLRDHUP, revents: 0 };
    // SAFETY: poll reads one pollfd we own; a closed descriptor answers POLLNVAL.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n < 0 {
        return false;
    }
    if p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return true;
    }
    // Still open: is it still the same connection?
    peer_of(sock.fd) != sock.peer
}

fn peer_of(fd: RawFd) -> Option<std::net::SocketAddr> {
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `storage`.
    let rc = unsafe { libc::getpeername(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) };
    if rc != 0 {
        return None;
    }
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let a = unsafe { *(&storage as *const _ as *const libc::sockaddr_in) };
            Some(std::net::SocketAddr::from((u32::from_be(a.sin_addr.s_addr).to_be_bytes(), u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let a = unsafe { *(&storage as *const _ as *const libc::sockaddr_in6) };
            Some(std::net::SocketAddr::from((a.sin6_addr.s6_addr, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}
