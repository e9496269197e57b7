use super::*;
use crate::proto::data::perms;

fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id::new(scheme, id),
    }
}

#[test]
fn digest_test_vector() {
    assert_eq!(
        digest_id("alice:secret"),
        "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
    );
    // The user is the text before the first ':'; the hash covers everything.
    let d = digest_id("a:b:c");
    assert!(d.starts_with("a:") && d.len() == 2 + 28, "{d}");
    assert_ne!(d, digest_id("a:b"));
    assert!(digest_id("bob").starts_with("bob:"));
}

#[test]
fn add_auth_digest_and_super() {
    let ids = add_auth("digest", b"alice:secret", None).unwrap();
    assert_eq!(
        ids,
        vec![Id::new("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")]
    );
    let sup = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=";
    let ids = add_auth("digest", b"alice:secret", Some(sup)).unwrap();
    assert_eq!(ids, vec![Id::new("super", ""), Id::new("digest", sup)]);
    let ids = add_auth("digest", b"alice:wrong", Some(sup)).unwrap();
    assert_eq!(ids.len(), 1);
    // ZooKeeper accepts credentials without ':' too.
    assert_eq!(
        add_auth("digest", b"bob", None).unwrap()[0].id,
        digest_id("bob")
    );
}

#[test]
fn add_auth_other_schemes() {
    assert_eq!(add_auth("ip", b"whatever", None), Ok(vec![]));
    for s in ["world", "super", "sasl", "x509", "auth", "", "DIGEST"] {
        assert_eq!(add_auth(s, b"a:b", None), Err(ErrorCode::AuthFailed), "{s}");
    }
}

#[test]
fn check_acl_rules() {
    let alice = Id::new("digest", &digest_id("alice:secret"));
    let ip = Id::new("ip", "10.1.2.3");
    // Empty ACL allows everything, even with no ids.
    assert!(check_acl(&[], perms::ADMIN, &[]));
    // world:anyone with the right bit.
    let open_read = [acl(perms::READ, "world", "anyone")];
    assert!(check_acl(&open_read, perms::READ, &[]));
    assert!(!check_acl(
        &open_read,
        perms::WRITE,
        std::slice::from_ref(&ip)
    ));
    // super bypasses.
    assert!(check_acl(&open_read, perms::WRITE, &[Id::new("super", "")]));
    // Digest exact match only.
    let d = [acl(perms::ALL, "digest", &alice.id)];
    assert!(check_acl(&d, perms::DELETE, &[ip.clone(), alice.clone()]));
    assert!(!check_acl(
        &d,
        perms::DELETE,
        &[Id::new("digest", "alice:x")]
    ));
    assert!(!check_acl(&d, perms::DELETE, &[Id::new("ip", &alice.id)]));
    // Mask: READ|ADMIN passes with either bit.
    let r = [acl(perms::READ, "digest", &alice.id)];
    assert!(check_acl(
        &r,
        perms::READ | perms::ADMIN,
        std::slice::from_ref(&alice)
    ));
    assert!(!check_acl(&r, perms::ADMIN, std::slice::from_ref(&alice)));
    // ip entries.
    let net = [acl(perms::READ, "ip", "10.0.0.0/8")];
    assert!(check_acl(&net, perms::READ, std::slice::from_ref(&ip)));
    assert!(!check_acl(&net, perms::READ, &[Id::new("ip", "11.1.2.3")]));
    // A world entry with another id is not special.
    assert!(!check_acl(
        &[acl(31, "world", "someone")],
        perms::READ,
        &[Id::new("world", "someone")]
    ));
}

#[test]
fn ip_matching() {
    assert!(ip_matches("127.0.0.1", "127.0.0.1"));
    assert!(!ip_matches("127.0.0.2", "127.0.0.1"));
    assert!(ip_matches("192.168.1.77", "192.168.1.0/24"));
    assert!(ip_matches("192.168.1.77", "192.168.0.0/23"));
    assert!(!ip_matches("192.168.2.77", "192.168.0.0/23"));
    assert!(ip_matches("1.2.3.4", "9.9.9.9/0"));
    assert!(ip_matches("1.2.3.4", "1.2.3.5/31"));
    assert!(!ip_matches("1.2.3.4", "1.2.3.5/32"));
    // Bad expressions never match.
    assert!(!ip_matches("1.2.3.4", "1.2.3"));
    assert!(!ip_matches("1.2.3.4", "1.2.3.4/33"));
    assert!(!ip_matches("1.2.3.4", "1.2.3.4/x"));
    assert!(!ip_matches("bogus", "1.2.3.4"));
    // 3.8.0 has no IPv6 ACLs: they never match (and are InvalidACL on create/setACL).
    assert!(!ip_matches("0:0:0:0:0:0:0:1", "::1"));
    assert!(!ip_matches("0:0:0:0:0:0:0:0", "0.0.0.0/0"));
    assert!(!ip_matches("1.2.3.4", "::/0"));
}

#[test]
fn ip_validity() {
    for ok in [
        "1.2.3.4",
        "1.2.3.4/0",
        "1.2.3.4/32",
        "010.1.1.1",
        "+1.2.3.4",
    ] {
        assert!(ip_id_is_valid(ok), "{ok}");
    }
    for bad in [
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.4/33",
        "1.2.3.4/-1",
        "1.2.3.4/",
        "",
        "host",
        "::1",
        "::",
        "::/0",
        "2001:db8::8a2e:370:7334",
        "::1/129",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "12345::",
        "g::1",
        "1:2:3:4::5:6:7:8",
        "::ffff:1.2.3.4",
    ] {
        assert!(!ip_id_is_valid(bad), "{bad}");
    }
}

#[test]
fn java_split_semantics() {
    assert_eq!(java_split_len("u:h", ':'), 2);
    assert_eq!(java_split_len("u:h:", ':'), 2);
    assert_eq!(java_split_len("u:", ':'), 1);
    assert_eq!(java_split_len(":h", ':'), 2);
    assert_eq!(java_split_len("::", ':'), 0);
    assert_eq!(java_split_len("", ':'), 1);
    assert_eq!(java_split_len("u:h:x", ':'), 3);
}

#[test]
fn fixup_rules() {
    let alice = Id::new("digest", &digest_id("alice:secret"));
    let bob = Id::new("digest", &digest_id("bob:pw"));
    let ip = Id::new("ip", "127.0.0.1");
    let sup = Id::new("super", "");
    // Null and empty.
    assert_eq!(fixup_acl(None, &[]), Err(ErrorCode::InvalidAcl));
    assert_eq!(fixup_acl(Some(&[]), &[]), Err(ErrorCode::InvalidAcl));
    // Open ACL passes through; duplicates dropped keeping order.
    let open = Acl::open_unsafe();
    assert_eq!(fixup_acl(Some(&open), &[]).unwrap(), open);
    let dup = [
        acl(1, "ip", "1.2.3.4"),
        acl(31, "world", "anyone"),
        acl(1, "ip", "1.2.3.4"),
    ];
    assert_eq!(fixup_acl(Some(&dup), &[]).unwrap(), dup[..2].to_vec());
    // Same id, different perms: both kept.
    let two = [acl(1, "world", "anyone"), acl(2, "world", "anyone")];
    assert_eq!(fixup_acl(Some(&two), &[]).unwrap().len(), 2);
    // auth expands to digest ids only, keeping perms and order.
    let auth = [acl(5, "auth", "ignored")];
    assert_eq!(
        fixup_acl(
            Some(&auth),
            &[ip.clone(), alice.clone(), sup.clone(), bob.clone()]
        )
        .unwrap(),
        vec![
            Acl {
                perms: 5,
                id: alice.clone()
            },
            Acl {
                perms: 5,
                id: bob.clone()
            }
        ]
    );
    assert_eq!(
        fixup_acl(Some(&auth), &[ip.clone(), sup.clone()]),
        Err(ErrorCode::InvalidAcl)
    );
    assert_eq!(
        fixup_acl(Some(&Acl::creator_all()), &[]),
        Err(ErrorCode::InvalidAcl)
    );
    // The expansion is not deduplicated again.
    let both = [
        acl(31, "auth", ""),
        Acl {
            perms: 31,
            id: alice.clone(),
        },
    ];
    assert_eq!(
        fixup_acl(Some(&both), std::slice::from_ref(&alice))
            .unwrap()
            .len(),
        2
    );
    // Invalid ids and schemes.
    for bad in [
        acl(31, "world", "someone"),
        acl(31, "digest", "nocolon"),
        acl(31, "digest", "a:b:c"),
        acl(31, "ip", "1.2.3"),
        acl(31, "super", ""),
        acl(31, "sasl", "x"),
        acl(31, "", ""),
    ] {
        let list = [Acl::open_unsafe()[0].clone(), bad.clone()];
        assert_eq!(
            fixup_acl(Some(&list), std::slice::from_ref(&alice)),
            Err(ErrorCode::InvalidAcl),
            "{bad:?}"
        );
    }
    // Valid digest and ip entries are kept as given.
    let ok = [acl(3, "digest", "u:h:"), acl(1, "ip", "10.0.0.0/8")];
    assert_eq!(fixup_acl(Some(&ok), &[]).unwrap(), ok.to_vec());
}

#[test]
fn who_am_i() {
    let ids = [
        Id::new("ip", "127.0.0.1"),
        Id::new("super", ""),
        Id::new("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="),
    ];
    assert_eq!(
        client_infos(&ids),
        vec![
            ("ip".to_string(), "127.0.0.1".to_string()),
            ("super".to_string(), String::new()),
            ("digest".to_string(), "alice".to_string()),
        ]
    );
}

#[test]
fn masking() {
    let list = [
        acl(31, "digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="),
        acl(1, "world", "anyone"),
        acl(1, "ip", "1.2.3.4"),
        acl(2, "digest", "nocolon"),
    ];
    let m = mask_digest_ids(&list);
    assert_eq!(m[0], acl(31, "digest", "alice:x"));
    assert_eq!(m[1..3], list[1..3]);
    assert_eq!(m[3], list[3]);
}
