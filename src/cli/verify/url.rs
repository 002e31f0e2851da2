//! The service URLs of `verify` (`imaps://USER@HOST[:PORT]`, …): parsing, redaction
//! for messages, and where each service is once URL, Dovecot config and defaults meet.

use anyhow::{Context, anyhow};
use uidlmap::tls::Security;

/// Which service a URL or setting is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Proto {
    Imap,
    Pop3,
}

impl Proto {
    pub(super) fn name(self) -> &'static str {
        match self {
            Proto::Imap => "IMAP",
            Proto::Pop3 => "POP3",
        }
    }
}

/// Where to connect, as far as known.
pub(super) use uidlmap::config::dovecot_conf::Target;

/// The URL as errors show it: a password someone put in it replaced by `***`.
pub(super) fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    match rest.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// Parses `scheme://USER@HOST[:PORT][/]`. The user may hold `@` (the last one splits)
/// and percent escapes; IPv6 hosts go in brackets.
/// The user a service URL names, if it parses and names one.
pub(super) fn url_user(url: &str) -> Option<String> {
    [Proto::Imap, Proto::Pop3]
        .into_iter()
        .find_map(|p| parse_url(url, p).ok())
        .and_then(|t| t.user)
}

pub(super) fn parse_url(url: &str, proto: Proto) -> anyhow::Result<Target> {
    let shown = redact_url(url);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("{shown:?}: expected SCHEME://USER@HOST[:PORT]"))?;
    let (security, default_port) = match (proto, scheme.to_ascii_lowercase().as_str()) {
        (Proto::Imap, "imap") => (Security::Plain, 143),
        (Proto::Imap, "imaps") => (Security::Implicit, 993),
        (Proto::Pop3, "pop3" | "pop") => (Security::Plain, 110),
        (Proto::Pop3, "pop3s" | "pops") => (Security::Implicit, 995),
        _ => {
            let want = match proto {
                Proto::Imap => "imap or imaps",
                Proto::Pop3 => "pop3 or pop3s",
            };
            return Err(anyhow!("{shown:?}: the scheme must be {want}"));
        }
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') {
        return Err(anyhow!("{shown:?}: no path or query is allowed"));
    }
    let (user, hostport) = rest
        .rsplit_once('@')
        .ok_or_else(|| anyhow!("{shown:?}: no user: expected SCHEME://USER@HOST[:PORT]"))?;
    if user.contains(':') {
        return Err(anyhow!(
            "{shown:?}: a password does not belong in the URL; use --password-file, an environment variable or the prompt"
        ));
    }
    let user = percent_decode(user).with_context(|| format!("{shown:?}: the user"))?;
    if user.is_empty() {
        return Err(anyhow!("{shown:?}: empty user"));
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| anyhow!("{shown:?}: unclosed '['"))?;
        match after {
            "" => (h.to_string(), None),
            p => (
                h.to_string(),
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| anyhow!("{shown:?}: bad port"))?,
                ),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(anyhow!("{shown:?}: empty host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| anyhow!("{shown:?}: bad port {p:?}"))?,
        None => default_port,
    };
    Ok(Target {
        host: Some(host),
        port: Some(port),
        user: Some(user),
        security: Some(security),
    })
}

fn percent_decode(s: &str) -> anyhow::Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| anyhow!("bad percent escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| anyhow!("not UTF-8 after percent decoding"))
}

/// Where one service is: host, port, user and security, from its URL, else from
/// `--dovecot-conf`, else the defaults.
pub(super) fn endpoint(
    proto: Proto,
    url: Option<&str>,
    conf: &Target,
    starttls: bool,
) -> anyhow::Result<(String, u16, String, Security)> {
    let from_url = url.map(|u| parse_url(u, proto)).transpose()?;
    let pick = |f: fn(&Target) -> Option<String>| from_url.as_ref().and_then(f).or_else(|| f(conf));
    let flag = match proto {
        Proto::Imap => "--imap",
        Proto::Pop3 => "--pop3",
    };
    let host = pick(|t| t.host.clone()).ok_or_else(|| {
        anyhow!(
            "no {} server: give {flag} or {}_host in --dovecot-conf",
            proto.name(),
            if proto == Proto::Imap {
                "imapc"
            } else {
                "pop3c"
            }
        )
    })?;
    let user = pick(|t| t.user.clone())
        .ok_or_else(|| anyhow!("no {} user: give {flag} USER@HOST", proto.name()))?;
    let mut security = from_url
        .as_ref()
        .and_then(|t| t.security)
        .or(conf.security)
        .unwrap_or(Security::Plain);
    if starttls {
        if security == Security::Implicit {
            return Err(anyhow!(
                "--starttls is for imap:// and pop3:// URLs, not implicit TLS"
            ));
        }
        security = Security::StartTls;
    }
    let default_port = match (proto, security) {
        (Proto::Imap, Security::Implicit) => 993,
        (Proto::Imap, _) => 143,
        (Proto::Pop3, Security::Implicit) => 995,
        (Proto::Pop3, _) => 110,
    };
    let port = from_url
        .as_ref()
        .filter(|_| url.is_some_and(url_has_port))
        .and_then(|t| t.port)
        .or(conf.port)
        .unwrap_or(default_port);
    Ok((host, port, user, security))
}

/// Whether the URL names a port (an IPv6 host's colons do not count).
fn url_has_port(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.trim_end_matches('/');
    match hostport.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => hostport.contains(':'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("imaps://bob%40example.com@mail.example.com", Proto::Imap).unwrap();
        assert_eq!(t.user.as_deref(), Some("bob@example.com"));
        assert_eq!(t.host.as_deref(), Some("mail.example.com"));
        assert_eq!((t.port, t.security), (Some(993), Some(Security::Implicit)));
        let t = parse_url("pop3://a@b@[::1]:1110/", Proto::Pop3).unwrap();
        assert_eq!(t.user.as_deref(), Some("a@b"));
        assert_eq!(t.host.as_deref(), Some("::1"));
        assert_eq!((t.port, t.security), (Some(1110), Some(Security::Plain)));
        assert_eq!(
            parse_url("pop3s://u@h", Proto::Pop3).unwrap().port,
            Some(995)
        );
        for bad in [
            "imap://h",
            "pop3://u@h",
            "imap://u:pw@h",
            "imap://u@h:0",
            "imap://u@h:x",
            "imap://u@",
            "imap://u@h/INBOX",
            "http://u@h",
            "imap://u%4@h",
        ] {
            assert!(parse_url(bad, Proto::Imap).is_err(), "{bad}");
        }
        // The password never shows in the error.
        let e = parse_url("imap://u:hunter2@h", Proto::Imap)
            .unwrap_err()
            .to_string();
        assert!(e.contains("password does not belong"), "{e}");
        assert!(url_has_port("imap://u@h:1"));
        assert!(!url_has_port("imap://u@[::1]"));
    }
}
