//! A reader for the Java `.properties` syntax that zoo.cfg uses (`java.util.Properties.load`).
//!
//! Rules copied from the JDK: `#` or `!` as the first non-blank character starts a comment;
//! a line ending in an odd number of backslashes continues on the next line (whose leading
//! blanks are dropped); the key ends at the first unescaped `=`, `:` or blank; escapes
//! `\t \n \r \f \uXXXX` and `\<any>` (the character itself) are understood. ZooKeeper then
//! trims every value, and so do we.

/// One `key=value` pair with the 1-based line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub line: usize,
    pub key: String,
    pub value: String,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Split `text` into properties, in file order (later duplicates override earlier ones when
/// the caller applies them in order, as `Properties` does).
pub fn parse(text: &str) -> Vec<Property> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start_line = i + 1;
        let first = lines[i].trim_start_matches(is_blank);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines.
        let mut logical = String::new();
        let mut cur = first;
        loop {
            let trailing = cur.chars().rev().take_while(|&c| c == '\\').count();
            if trailing % 2 == 1 && i < lines.len() {
                logical.push_str(&cur[..cur.len() - 1]);
                cur = lines[i].trim_start_matches(is_blank);
                i += 1;
            } else {
                logical.push_str(if trailing % 2 == 1 {
                    &cur[..cur.len() - 1]
                } else {
                    cur
                });
                break;
            }
        }
        let (key, value) = split_key_value(&logical);
        out.push(Property {
            line: start_line,
            key,
            value: value.trim().to_owned(),
        });
    }
    out
}

/// Split a logical line at the first unescaped separator and unescape both halves.
fn split_key_value(line: &str) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut k = 0;
    let mut escaped = false;
    while k < chars.len() {
        let c = chars[k];
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            break;
        }
        k += 1;
    }
    let key: String = chars[..k].iter().collect();
    let mut v = k;
    while v < chars.len() && is_blank(chars[v]) {
        v += 1;
    }
    if v < chars.len() && (chars[v] == '=' || chars[v] == ':') {
        v += 1;
    }
    while v < chars.len() && is_blank(chars[v]) {
        v += 1;
    }
    let value: String = chars[v..].iter().collect();
    (unescape(&key), unescape(&value))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = it.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => out.push(ch),
                    // The JDK throws on a malformed \u escape; keeping the text lets the
                    // caller report the value as malformed instead.
                    _ => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(usize, String, String)> {
        parse(text)
            .into_iter()
            .map(|p| (p.line, p.key, p.value))
            .collect()
    }

    #[test]
    fn separators_comments_and_trimming() {
        let got = kv("# c\n! c\n\n  a=1\nb : 2 \nc 3\nd=\ne\n\tf\\=g = h\n");
        let want = vec![
            (4, "a".into(), "1".into()),
            (5, "b".into(), "2".into()),
            (6, "c".into(), "3".into()),
            (7, "d".into(), "".into()),
            (8, "e".into(), "".into()),
            (9, "f=g".into(), "h".into()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn continuation_lines_and_escapes() {
        let got = kv("list=a,\\\n    b,\\\r\n  c\nx=\\u0041\\t!\nlast=trailing\\");
        assert_eq!(got[0], (1, "list".into(), "a,b,c".into()));
        assert_eq!(got[1], (4, "x".into(), "A\t!".into()));
        assert_eq!(got[2], (5, "last".into(), "trailing".into()));
        // An escaped backslash at the end does not continue the line.
        assert_eq!(kv("p=c:\\\\\nq=1").len(), 2);
    }
}
