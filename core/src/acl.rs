//! ACLs and authentication: the `digest`, `ip`, `world` and `super` schemes, the ACL check,
//! ACL fixup for create/setACL, whoAmI and getACL masking (reference §8).
//!
//! Registered providers are `ip` (always) and `digest` (ZooKeeper's default). `world:anyone`
//! and `super` are handled specially by the check, as in `ZooKeeperServer.checkACL`; they
//! have no provider, so `addAuth` with them fails and ACL entries naming them (other than
//! `world:anyone`) are invalid.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::error::ErrorCode;
use crate::proto::data::{Acl, Id};

/// `DigestAuthenticationProvider.generateDigest`: `"user:BASE64(SHA1("user:password"))"`.
///
/// `user` is the text before the first `:` (all of it when there is none); the SHA-1 input is
/// the whole string as UTF-8; base64 is the standard alphabet with `=` padding.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(hash);
    format!("{user}:{b64}")
}

/// `addAuth(scheme, auth)`: the ids the connection gains, or `AuthFailed` (after which the
/// server replies -115 and closes the connection).
///
/// - `digest`: always succeeds, like ZooKeeper: the bytes are read as UTF-8 (invalid
///   sequences become U+FFFD, as Java's `new String` does) and give
///   `digest:`[`digest_id`]; if that equals `super_digest`, `super:""` comes first. ZooKeeper
///   does not reject credentials without a `:`; `"bob"` yields the id `bob:<hash of "bob">`.
/// - `ip`: succeeds and adds nothing here. ZooKeeper's provider re-adds the connection's
///   remote address, which every connection already holds from the moment it opened, so the
///   caller's id list does not change.
/// - anything else (`world`, `super`, `sasl`, unknown): `AuthFailed`.
///
/// The caller appends the returned ids to the connection, skipping ones it already holds
/// (`ServerCnxn.addAuthInfo` deduplicates).
pub fn add_auth(
    scheme: &str,
    auth: &[u8],
    super_digest: Option<&str>,
) -> Result<Vec<Id>, ErrorCode> {
    match scheme {
        "digest" => {
            let text = String::from_utf8_lossy(auth);
            let id = digest_id(&text);
            let mut ids = Vec::with_capacity(2);
            if super_digest == Some(id.as_str()) {
                ids.push(Id::new("super", ""));
            }
            ids.push(Id {
                scheme: "digest".to_owned(),
                id,
            });
            Ok(ids)
        }
        "ip" => Ok(Vec::new()),
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// `ZooKeeperServer.checkACL` (§8.2): may a connection holding `ids` do `perm` on a node
/// with `acl`?
///
/// Allowed when the ACL list is empty, when the connection holds any `super` id, or when an
/// entry sharing a bit with `perm` is `world:anyone` or matches one of the connection's ids
/// of the same scheme (`digest`: exact string; `ip`: address under the entry's prefix mask).
/// (`zookeeper.skipACL` is the caller's business.)
pub fn check_acl(acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    if acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        ids.iter()
            .filter(|i| i.scheme == a.id.scheme)
            .any(|i| match a.id.scheme.as_str() {
                "digest" => i.id == a.id.id,
                "ip" => ip_matches(&i.id, &a.id.id),
                _ => false,
            })
    })
}

/// `PrepRequestProcessor.fixupACL` (§8.3, §8.4) for create and setACL.
///
/// Null or empty → `InvalidAcl`. Duplicates are dropped (first occurrence kept). Then, in
/// order: `world:anyone` is kept; `auth:<anything>` becomes one entry per authenticated id
/// of the requester (only `digest` ids count; `ip` and `super` do not), with the entry's
/// perms, and `InvalidAcl` if there is none; `digest` and `ip` entries are kept when their
/// id is valid; everything else (unknown scheme, `world` with another id, `super`, invalid
/// id) is `InvalidAcl`. The expansion of `auth` is not deduplicated again, as in ZooKeeper.
pub fn fixup_acl(acl: Option<&[Acl]>, ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let acl = acl.ok_or(ErrorCode::InvalidAcl)?;
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => out.push(a.clone()),
            "auth" => {
                let before = out.len();
                for id in ids.iter().filter(|i| is_authenticated_scheme(&i.scheme)) {
                    out.push(Acl {
                        perms: a.perms,
                        id: id.clone(),
                    });
                }
                if out.len() == before {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if digest_id_is_valid(&a.id.id) => out.push(a.clone()),
            "ip" if ip_id_is_valid(&a.id.id) => out.push(a.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

/// whoAmI (`AuthUtil.getClientInfos`): one `(scheme, user)` per id, in order. `digest` gives
/// the user name (text before the first `:`), `ip` the address, schemes without a
/// provider (`super`, ...) an empty user.
pub fn client_infos(ids: &[Id]) -> Vec<(String, String)> {
    ids.iter()
        .map(|i| {
            let user = match i.scheme.as_str() {
                "digest" => i.id.split(':').next().unwrap_or(""),
                "ip" => i.id.as_str(),
                _ => "",
            };
            (i.scheme.clone(), user.to_owned())
        })
        .collect()
}

/// getACL for a caller without ADMIN: every `digest` id has everything from its first `:`
/// on replaced by `:x` (`alice:hash` → `alice:x`); other entries are unchanged. (Java uses
/// the regex `:.*`, whose `.` stops at a line terminator; ids with newlines are not
/// special-cased here.)
pub fn mask_digest_ids(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme != "digest" {
                return a.clone();
            }
            let id = match a.id.id.find(':') {
                Some(i) => format!("{}:x", &a.id.id[..i]),
                None => a.id.id.clone(),
            };
            Acl {
                perms: a.perms,
                id: Id {
                    scheme: a.id.scheme.clone(),
                    id,
                },
            }
        })
        .collect()
}

/// Providers whose ids count for the `auth` scheme (`isAuthenticated()`): only `digest`
/// among the ones Corral registers.
fn is_authenticated_scheme(scheme: &str) -> bool {
    scheme == "digest"
}

/// `DigestAuthenticationProvider.isValid`: Java's `id.split(":").length == 2`, where `split`
/// drops trailing empty strings (`"u:h:"` is valid, `"u:"` is not).
fn digest_id_is_valid(id: &str) -> bool {
    java_split_len(id, ':') == 2
}

/// Number of parts Java's `String.split(sep)` returns (trailing empty parts removed; a
/// string without the separator gives one part, even when empty).
fn java_split_len(s: &str, sep: char) -> usize {
    if !s.contains(sep) {
        return 1;
    }
    let parts: Vec<&str> = s.split(sep).collect();
    parts
        .iter()
        .rposition(|p| !p.is_empty())
        .map_or(0, |i| i + 1)
}

/// `IPAuthenticationProvider.isValid`: an address, optionally `/bits` with
/// `0 <= bits <= address bits`.
fn ip_id_is_valid(id: &str) -> bool {
    parse_ip_expr(id).is_some()
}

/// `IPAuthenticationProvider.matches`: `remote` (the connection's `ip` id) lies in the
/// network `acl_expr` (`addr[/bits]`).
fn ip_matches(remote: &str, acl_expr: &str) -> bool {
    let Some((mut net, bits)) = parse_ip_expr(acl_expr) else {
        return false;
    };
    // A remote IPv6 address may carry a zone (`fe80::1%eth0`); the zone is not part of the
    // address.
    let remote = remote.split('%').next().unwrap_or("");
    let Some(mut addr) = addr_to_bytes(remote) else {
        return false;
    };
    if addr.len() != net.len() {
        return false;
    }
    mask(&mut net, bits);
    mask(&mut addr, bits);
    addr == net
}

/// Parse `addr[/bits]` into address bytes and prefix length.
fn parse_ip_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let bytes = addr_to_bytes(addr)?;
    let max_bits = bytes.len() * 8;
    let bits = match bits {
        None => max_bits,
        Some(b) => {
            let b = java_parse_int(b, 10)?;
            if b < 0 || b as usize > max_bits {
                return None;
            }
            b as usize
        }
    };
    Some((bytes, bits))
}

/// `addr2Bytes` of 3.8.0: IPv4 only (its IPv6 branch was a TODO), so an IPv6 ACL is
/// InvalidACL and never matches, exactly as on ZooKeeper 3.8.0.
fn addr_to_bytes(addr: &str) -> Option<Vec<u8>> {
    v4_to_bytes(addr).map(|b| b.to_vec())
}

/// Dotted quad; each part parsed like Java's `Integer.parseInt` (optional sign, leading
/// zeros allowed) and within 0..=255.
fn v4_to_bytes(addr: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = addr.split('.');
    for b in out.iter_mut() {
        let v = java_parse_int(parts.next()?, 10)?;
        *b = u8::try_from(v).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// Java's `Integer.parseInt(s, radix)`: optional `+`/`-`, at least one digit, fits in i32.
fn java_parse_int(s: &str, radix: u32) -> Option<i32> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    i32::try_from(if neg { -v } else { v }).ok()
}

/// Keep the first `bits` bits of `b`, zero the rest.
fn mask(b: &mut [u8], bits: usize) {
    for (i, byte) in b.iter_mut().enumerate() {
        let start = i * 8;
        if bits <= start {
            *byte = 0;
        } else if bits < start + 8 {
            *byte &= !(0xffu8 >> (bits - start));
        }
    }
}

#[cfg(test)]
mod tests;
