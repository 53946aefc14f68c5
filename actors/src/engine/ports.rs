//! Engine ports: the preferred ones when free, else a nearby free one with a warning; RTP/RTCP
//! as a free consecutive even/odd UDP pair from 50000.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use serde::Serialize;

use crate::model::settings::PreferredPorts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EnginePorts {
    pub rtsp: u16,
    pub hls: u16,
    pub webrtc: u16,
    pub webrtc_udp: u16,
    pub api: u16,
    pub metrics: u16,
    pub rtp: u16,
    pub rtcp: u16,
}

pub const RTP_PREFERRED: u16 = 50000;
/// How far past a taken preferred port to look before letting the OS pick.
const SCAN: u16 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Udp,
}

/// A free TCP port on `host`: `wanted` if it is free, else the nearest free one above it.
pub fn free_tcp_near(host: IpAddr, wanted: u16) -> Option<u16> {
    pick_port(host, wanted, Transport::Tcp, &HashSet::new())
}

/// Picks every port on `bind_host`, never the same one twice. Warnings name each move.
pub fn resolve(
    bind_host: IpAddr,
    preferred: &PreferredPorts,
) -> Result<(EnginePorts, Vec<String>), String> {
    let mut used = HashSet::new();
    let mut warnings = Vec::new();
    let mut pick =
        |label: &str, host: IpAddr, port: i64, transport: Transport| -> Result<u16, String> {
            let wanted = port.clamp(1, 65535) as u16;
            let chosen = pick_port(host, wanted, transport, &used)
                .ok_or_else(|| format!("no free {label} port near {wanted} on {host}"))?;
            if chosen != wanted {
                warnings.push(format!(
                    "{label} port {wanted} unavailable; using {chosen}."
                ));
            }
            used.insert(chosen);
            Ok(chosen)
        };
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let rtsp = pick("RTSP", bind_host, preferred.rtsp, Transport::Tcp)?;
    let hls = pick("HLS", bind_host, preferred.hls, Transport::Tcp)?;
    let webrtc = pick("WebRTC", bind_host, preferred.webrtc, Transport::Tcp)?;
    let webrtc_udp = pick(
        "WebRTC UDP",
        bind_host,
        preferred.webrtc_udp,
        Transport::Udp,
    )?;
    let api = pick("API", loopback, preferred.api, Transport::Tcp)?;
    let metrics = pick("Metrics", loopback, preferred.metrics, Transport::Tcp)?;
    let rtp = pick_pair(bind_host, RTP_PREFERRED, &used)
        .ok_or_else(|| "no free RTP/RTCP port pair".to_string())?;
    if rtp != RTP_PREFERRED {
        warnings.push(format!(
            "RTP/RTCP port pair {RTP_PREFERRED}/{} unavailable; using {rtp}/{}.",
            RTP_PREFERRED + 1,
            rtp + 1
        ));
    }
    Ok((
        EnginePorts {
            rtsp,
            hls,
            webrtc,
            webrtc_udp,
            api,
            metrics,
            rtp,
            rtcp: rtp + 1,
        },
        warnings,
    ))
}

fn pick_port(host: IpAddr, wanted: u16, transport: Transport, used: &HashSet<u16>) -> Option<u16> {
    let free = |port: u16| !used.contains(&port) && is_free(host, port, transport);
    if free(wanted) {
        return Some(wanted);
    }
    let start = wanted.saturating_add(1).max(1024);
    let end = wanted.saturating_add(SCAN);
    (start..end).find(|port| free(*port)).or_else(|| {
        // Let the OS choose; retry a few times in case it hands back one we already assigned.
        (0..8).find_map(|_| ephemeral(host, transport).filter(|p| !used.contains(p)))
    })
}

fn pick_pair(host: IpAddr, wanted: u16, used: &HashSet<u16>) -> Option<u16> {
    let free = |rtp: u16| {
        !used.contains(&rtp)
            && !used.contains(&(rtp + 1))
            && is_free(host, rtp, Transport::Udp)
            && is_free(host, rtp + 1, Transport::Udp)
    };
    (wanted..=65532)
        .step_by(2)
        .take(1000)
        .chain((10000..wanted).step_by(2))
        .find(|rtp| free(*rtp))
}

fn is_free(host: IpAddr, port: u16, transport: Transport) -> bool {
    let address = SocketAddr::new(host, port);
    match transport {
        Transport::Tcp => TcpListener::bind(address).is_ok(),
        Transport::Udp => UdpSocket::bind(address).is_ok(),
    }
}

fn ephemeral(host: IpAddr, transport: Transport) -> Option<u16> {
    let address = SocketAddr::new(host, 0);
    match transport {
        Transport::Tcp => TcpListener::bind(address)
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port()),
        Transport::Udp => UdpSocket::bind(address)
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_preferred() -> PreferredPorts {
        // Ports the OS just handed out are very likely free again right away.
        let mut ports = Vec::new();
        let listeners: Vec<TcpListener> = (0..6)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        for l in &listeners {
            ports.push(l.local_addr().unwrap().port() as i64);
        }
        drop(listeners);
        PreferredPorts {
            rtsp: ports[0],
            hls: ports[1],
            webrtc: ports[2],
            webrtc_udp: ports[3],
            api: ports[4],
            metrics: ports[5],
        }
    }

    #[test]
    fn a_taken_port_moves_with_a_warning() {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let preferred = free_preferred();
        let squatter = TcpListener::bind(("127.0.0.1", preferred.hls as u16)).unwrap();
        let (ports, warnings) = resolve(localhost, &preferred).unwrap();
        assert_eq!(ports.rtsp as i64, preferred.rtsp);
        assert_ne!(ports.hls as i64, preferred.hls);
        assert!(warnings.contains(&format!(
            "HLS port {} unavailable; using {}.",
            preferred.hls, ports.hls
        )));
        assert_eq!(ports.rtcp, ports.rtp + 1);
        assert_eq!(ports.rtp % 2, 0);
        drop(squatter);
    }

    #[test]
    fn ports_are_never_assigned_twice() {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut preferred = free_preferred();
        preferred.hls = preferred.rtsp;
        let (ports, warnings) = resolve(localhost, &preferred).unwrap();
        assert_ne!(ports.rtsp, ports.hls);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn a_taken_rtp_pair_moves_to_the_next_even_pair() {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let squat = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
        let taken = squat.local_addr().unwrap().port();
        let even = taken & !1;
        let pair = pick_pair(localhost, even, &HashSet::new()).unwrap();
        assert!(pair > even && pair.is_multiple_of(2), "{pair} after {even}");
    }
}
