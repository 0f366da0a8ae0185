//! Who is on the other end of a loopback TCP connection. A loopback listener (the console's
//! one-use redirect, the PKCE login's callback) is reachable by every local user; on Linux the
//! kernel's TCP tables (`/proc/net/tcp`, and `tcp6` for a dual-stack client's IPv4-mapped socket:
//! the tables `ss` and identd read) have the uid of every socket, so a connection of another user
//! can be refused. Parsed here in a few lines rather than through the `procfs` crate, of which
//! this would be the only use.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Whether the connection from `peer` to our listener on 127.0.0.1:`port` belongs to this user.
/// A connection the tables do not list (gone already), or an IPv6 peer, is refused. No uid is
/// trusted but our own: a client socket closed already (TIME_WAIT, orphaned) is listed with uid
/// 0 whoever made it, so "root" would let anyone in. Elsewhere than Linux there is no such table: true.
#[cfg(target_os = "linux")]
pub fn same_user(peer: SocketAddr, port: u16) -> bool {
    let SocketAddr::V4(peer) = peer else {
        return false;
    };
    let own = rustix::process::getuid().as_raw();
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .ok()
            .and_then(|table| socket_owner(&table, peer, port))
            .is_some_and(|uid| uid == own)
    })
}

#[cfg(not(target_os = "linux"))]
pub fn same_user(_peer: SocketAddr, _port: u16) -> bool {
    true
}

/// The uid of the socket in `table` whose local end is `peer` and remote end is 127.0.0.1:`port`,
/// if a process still holds it (inode not 0: an orphaned socket's uid says nothing).
/// Addresses are hex, each 32-bit word of the address as the host stores it, then the port; in
/// `tcp6` an IPv4 client of a dual-stack socket is `::ffff:a.b.c.d`.
pub fn socket_owner(table: &str, peer: SocketAddrV4, port: u16) -> Option<u32> {
    let wanted = [false, true].map(|mapped| {
        (
            table_address(*peer.ip(), peer.port(), mapped),
            table_address(Ipv4Addr::LOCALHOST, port, mapped),
        )
    });
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid …
        let (local, remote) = (*fields.get(1)?, *fields.get(2)?);
        let held = fields.get(9).is_some_and(|inode| *inode != "0");
        (held && wanted.iter().any(|(l, r)| l == local && r == remote))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

/// An address as the TCP tables write it: `tcp`'s IPv4 form, or `tcp6`'s IPv4-mapped one.
pub fn table_address(ip: Ipv4Addr, port: u16, mapped: bool) -> String {
    let word = |bytes: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(bytes));
    let prefix = if mapped {
        format!(
            "{}{}{}",
            word([0; 4]),
            word([0; 4]),
            word([0, 0, 0xff, 0xff])
        )
    } else {
        String::new()
    };
    format!("{prefix}{}:{port:04X}", word(ip.octets()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_tables_name_the_owner_of_a_connection() {
        let ip = table_address(Ipv4Addr::LOCALHOST, 0xA1B2, false);
        let server = table_address(Ipv4Addr::LOCALHOST, 0x1F90, false);
        if cfg!(target_endian = "little") {
            assert_eq!(ip, "0100007F:A1B2");
            assert_eq!(
                table_address(Ipv4Addr::LOCALHOST, 0xA1B2, true),
                "0000000000000000FFFF00000100007F:A1B2"
            );
        }
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let row = |local: &str, remote: &str, uid: u32| {
            format!("   0: {local} {remote} 01 00000000:00000000 00:00000000 00000000 {uid:5}        0 123 1\n")
        };
        // The client's row and the accepted socket's row: only the client's end matches.
        let table = format!(
            "{header}{}{}",
            row(&ip, &server, 1000),
            row(&server, &ip, 0)
        );
        let peer = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0xA1B2);
        assert_eq!(socket_owner(&table, peer, 0x1F90), Some(1000));
        assert_eq!(socket_owner(&table, peer, 0x1F91), None);
        // A dual-stack client, listed in tcp6 only.
        let (ip6, server6) = (
            table_address(Ipv4Addr::LOCALHOST, 0xA1B2, true),
            table_address(Ipv4Addr::LOCALHOST, 0x1F90, true),
        );
        let tcp6 = format!("{header}{}", row(&ip6, &server6, 1001));
        assert_eq!(socket_owner(&tcp6, peer, 0x1F90), Some(1001));
        // Closed by its process already (TIME_WAIT, inode 0): the kernel lists it as uid 0.
        let orphan = format!(
            "{header}   0: {ip} {server} 06 00000000:00000000 03:00000ABC 00000000     0        0 0 3\n"
        );
        assert_eq!(socket_owner(&orphan, peer, 0x1F90), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_of_our_own_is_ours_and_an_unknown_one_is_not() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(same_user(peer, port));
        // No such connection in the tables: refused.
        let nobody = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 1);
        assert!(!same_user(nobody, port));
    }
}
