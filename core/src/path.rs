//! Znode path rules: ZooKeeper's `PathUtils.validatePath` and the string helpers the tree
//! and request preparation share.
//!
//! Paths are plain `&str`. The root is `"/"`; every other valid path is `/seg(/seg)*` with
//! non-empty segments. Reads never validate (a malformed path is simply missing); writes
//! validate with [`validate_path`] (reference §6.3).

use crate::error::ErrorCode;

/// The system paths that can never be deleted (`DataTree.isSpecialPath`).
pub const SYSTEM_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// `PathUtils.validatePath`: `Ok` when `path` is a well-formed absolute znode path,
/// `BadArguments` otherwise.
///
/// Invalid: empty; not starting with `/`; longer than one char and ending with `/`; an empty
/// segment (`//`); a segment that is exactly `.` or `..`; U+0000; a char in U+0001–U+001F,
/// U+007F–U+009F, U+E000–U+F8FF (private use; Java's range also covers the surrogates), or
/// U+FFF0–U+FFFF; any char above U+FFFF (Java sees it as a surrogate pair, which falls in
/// the forbidden surrogate range). There is no length limit.
pub fn validate_path(path: &str) -> Result<(), ErrorCode> {
    if !path.starts_with('/') {
        // Also covers the empty path.
        return Err(ErrorCode::BadArguments);
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    for segment in path[1..].split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(ErrorCode::BadArguments);
        }
        if segment.chars().any(is_forbidden_char) {
            return Err(ErrorCode::BadArguments);
        }
    }
    Ok(())
}

/// The characters `validatePath` refuses, as Rust chars (which are never surrogates).
fn is_forbidden_char(c: char) -> bool {
    let c = c as u32;
    c == 0
        || (0x01..=0x1f).contains(&c)
        || (0x7f..=0x9f).contains(&c)
        || (0xd800..=0xf8ff).contains(&c)
        || (0xfff0..=0xffff).contains(&c)
        || c > 0xffff
}

/// The parent of `path`: the text before the last `/`, except that a path whose only `/`
/// is its first char has parent `"/"` (the root's key here, where ZooKeeper uses its `""`
/// alias).
///
/// Edge cases, exactly: `"/a/b"` → `"/a"`, `"/a"` → `"/"`, `"/"` → `""`, `"a/b"` → `"a"`,
/// `"a"` → `""` (no `/` at all), `""` → `""`, `"/a/"` → `"/a"`, `"//"` → `"/"`.
/// Only for valid paths other than `"/"` is the result itself a valid path.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        None => "",
        Some(0) if path.len() > 1 => "/",
        Some(0) => "",
        Some(i) => &path[..i],
    }
}

/// The text after the last `/` (the node's name); the whole string when there is no `/`.
/// `"/a/b"` → `"b"`, `"/"` → `""`, `"/a/"` → `""`.
pub fn last_segment(path: &str) -> &str {
    match path.rfind('/') {
        None => path,
        Some(i) => &path[i + 1..],
    }
}

/// True for `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`, which delete
/// refuses with BadArguments.
pub fn is_system_path(path: &str) -> bool {
    SYSTEM_PATHS.contains(&path)
}

/// `parent` joined with a child name: `join("/", "a")` = `"/a"`, `join("/a", "b")` = `"/a/b"`.
pub fn join(parent: &str, name: &str) -> String {
    let mut s = String::with_capacity(parent.len() + 1 + name.len());
    s.push_str(parent);
    if !parent.ends_with('/') {
        s.push('/');
    }
    s.push_str(name);
    s
}

/// Length of `path` in UTF-16 code units, which is what Java's `String.length()` counts
/// (used for ZooKeeper's `approximateDataSize`).
pub fn java_length(path: &str) -> u64 {
    path.chars().map(|c| c.len_utf16() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/.foo",
            "/a..b",
            "/a/...",
            "/zookeeper",
            "/é",
            "/a b",
            "/-",
        ] {
            assert_eq!(validate_path(p), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn invalid_paths() {
        for p in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "//a",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/..",
            "/a\0b",
            "/a\u{1}",
            "/a\u{1f}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{f8ff}",
            "/\u{fff0}",
            "/\u{ffff}",
            "/\u{10000}",
            "/😀",
        ] {
            assert_eq!(validate_path(p), Err(ErrorCode::BadArguments), "{p:?}");
        }
        // Just outside the forbidden ranges.
        for p in ["/\u{20}", "/\u{a0}", "/\u{d7ff}", "/\u{f900}", "/\u{ffef}"] {
            assert_eq!(validate_path(p), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn parent_and_name() {
        let cases = [
            ("/a/b", "/a", "b"),
            ("/a", "/", "a"),
            ("/", "", ""),
            ("a/b", "a", "b"),
            ("a", "", "a"),
            ("", "", ""),
            ("/a/", "/a", ""),
            ("//", "/", ""),
        ];
        for (p, par, name) in cases {
            assert_eq!(parent(p), par, "parent of {p:?}");
            assert_eq!(last_segment(p), name, "name of {p:?}");
        }
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn system_paths() {
        assert!(is_system_path("/"));
        assert!(is_system_path("/zookeeper/config"));
        assert!(!is_system_path("/zookeeper/other"));
        assert!(!is_system_path("/a/zookeeper"));
    }

    #[test]
    fn java_length_counts_utf16_units() {
        assert_eq!(java_length("/zookeeper"), 10);
        assert_eq!(java_length("/é"), 2);
        assert_eq!(java_length("/😀"), 3);
    }
}
